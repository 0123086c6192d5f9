"""Atomic file and folder writes: a result appears complete under its final name, or not at all.

Every output the engine writes (images, videos, PNG sequences, landmark files) goes through
:func:`atomic_path` or :func:`atomic_dir`. Work happens under a hidden temporary name in the
same folder as the final name, so the closing ``os.replace`` is a rename on one file system.
A file that already has the final name is left untouched until the new one is complete.

A temporary name carries the id of the process writing it (``.out.tmp-<pid>-<hex>.mp4``). A run
killed before it could clean up (SIGKILL, a power cut) leaves it behind; the next atomic write of
the same final name removes such leftovers whose process is gone (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import OutputError

log = logging.getLogger(__name__)

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def describe_os_error(error: OSError) -> str:
    """A short human reason for ``error``: "the disk is full", "permission denied", ..."""
    if error.errno in _DISK_FULL:
        return "the disk is full"
    if error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error)


def _output_error(final: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {final}: {describe_os_error(error)}")


def _check_parent(final: Path) -> None:
    parent = final.parent
    if not parent.exists():
        raise OutputError(f"cannot write {final}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {final}: {parent} is not a folder")


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir_quietly(path: Path) -> None:
    """Persist a rename; some file systems refuse fsync on folders, which is harmless here."""
    try:
        _fsync_path(path, directory=True)
    except OSError as error:
        log.debug("fsync of folder %s skipped: %s", path, error)


def _hidden_sibling(final: Path, tag: str, *, keep_suffix: bool) -> Path:
    """``out.mp4`` -> ``.out.tmp-<pid>-1a2b3c4d.mp4`` (keep_suffix) or ``frames`` -> ``.frames.tmp-<pid>-1a2b3c4d``."""
    token = f"{tag}-{os.getpid()}-{secrets.token_hex(4)}"
    if keep_suffix:
        return final.with_name(f".{final.stem}.{token}{final.suffix}")
    return final.with_name(f".{final.name}.{token}")


def _sibling_pattern(final: Path) -> re.Pattern[str]:
    """Matches the hidden names :func:`_hidden_sibling` gives ``final``; group 1 (file) or 2 (folder) is the process id."""
    token = r"(?:tmp|old)-(\d+)-[0-9a-f]{8}"
    file_form = re.escape(f".{final.stem}.") + token + re.escape(final.suffix)
    dir_form = re.escape(f".{final.name}.") + token
    return re.compile(f"(?:{file_form}|{dir_form})")


def process_alive(pid: int) -> bool:
    """True when a process with id ``pid`` runs on this machine (or might: when unsure, True)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temps(final: Path | str) -> list[Path]:
    """Delete hidden temporary files and folders of ``final`` left by processes that are gone.

    Only names this module creates for exactly ``final`` are touched (``.out.tmp-<pid>-<hex>.mp4``,
    ``.frames.tmp-<pid>-<hex>``, ``.frames.old-<pid>-<hex>``), and only when process ``<pid>`` no
    longer runs, so a concurrent writer of the same name keeps its work. Returns what was removed.
    """
    final = Path(final)
    pattern = _sibling_pattern(final)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or process_alive(int(match.group(1) or match.group(2))):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted run", path)
        removed.append(path)
    return removed


def _create_temp_file(final: Path) -> Path:
    """Create an empty hidden file beside ``final`` (same suffix); this is the writability check."""
    for _ in range(16):
        temp = _hidden_sibling(final, "tmp", keep_suffix=True)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise _output_error(final, error) from error
        os.close(fd)
        return temp
    raise OutputError(f"cannot write {final}: no free temporary name in {final.parent}")


def _is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in _DISK_FULL


class AtomicFile:
    """A hidden temporary file beside ``final`` that becomes ``final`` on :meth:`commit`.

    For writers whose lifetime spans many calls (video encoders); :func:`atomic_path` wraps it
    for a ``with`` block. Creating the temporary file (empty, same suffix as ``final``) is the
    up-front check that the folder is writable.

    Raises:
        OutputError: the folder is missing or not writable, or ``final`` is a folder.
    """

    def __init__(self, final: Path | str) -> None:
        self.final = Path(final)
        _check_parent(self.final)
        if self.final.is_dir():
            raise OutputError(f"cannot write {self.final}: a folder with that name exists")
        remove_stale_temps(self.final)
        self.path = _create_temp_file(self.final)

    def commit(self) -> None:
        """fsync the temporary file and rename it onto ``final``.

        Raises:
            OutputError: fsync or rename failed (the temporary file is removed).
        """
        try:
            _fsync_path(self.path)
            os.replace(self.path, self.final)
        except OSError as error:
            self.discard()
            raise _output_error(self.final, error) from error
        _fsync_dir_quietly(self.final.parent)
        log.debug("wrote %s", self.final)

    def discard(self) -> None:
        """Remove the temporary file; ``final`` stays as it was. Safe to call twice."""
        self.path.unlink(missing_ok=True)

    def failure(self, error: OSError) -> OutputError:
        """The ``OutputError`` to raise for ``error`` while writing this file."""
        return _output_error(self.final, error)


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit it becomes ``final``.

    The temporary file is hidden (leading dot), sits in ``final``'s folder and keeps ``final``'s
    suffix so encoders that pick a format from the name (OpenCV, PyAV) choose the right one. It
    exists (empty) when the block starts. When the block exits without an exception the file is
    fsynced and renamed onto ``final`` with ``os.replace``; otherwise it is removed and ``final``
    (if it existed) is left as it was.

    Raises:
        OutputError: the folder is missing or not writable, ``final`` is a folder, or the disk
            filled up (an ``ENOSPC`` ``OSError`` raised inside the block is turned into an
            ``OutputError`` saying so). Other exceptions from the block propagate unchanged.
    """
    yield from _guarded(AtomicFile(final))


def write_bytes_atomic(final: Path | str, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``final`` atomically (see :func:`atomic_path`).

    Raises:
        OutputError: the file cannot be written; a full disk is reported as such.
    """
    with atomic_path(final) as temp:
        write_all(temp, data)


def write_all(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` (created or truncated) with ``os.write`` until all of it is out.

    ``OSError`` propagates (``ENOSPC`` included) so the surrounding atomic context can report it.
    """
    view = memoryview(data).cast("B")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def _is_nonempty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return any(True for _ in entries)


def _check_dir_target(final: Path, overwrite: bool) -> None:
    if final.exists() and not final.is_dir():
        raise OutputError(f"cannot write {final}: a file with that name exists")
    if final.is_dir() and not overwrite and _is_nonempty_dir(final):
        raise OutputError(f"cannot write {final}: the folder exists and is not empty")


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            _fsync_path(Path(folder) / name)
        _fsync_dir_quietly(Path(folder))


class AtomicDir:
    """A hidden temporary folder beside ``final`` that becomes ``final`` on :meth:`commit`.

    Args:
        final: the folder to create.
        overwrite: replace an existing non-empty ``final``. Without it such a folder is refused
            here, before anything is written. An existing empty folder is always replaced.

    Raises:
        OutputError: the parent folder is missing or not writable, or ``final`` is a file or a
            non-empty folder (without ``overwrite``).
    """

    def __init__(self, final: Path | str, *, overwrite: bool = False) -> None:
        self.final = Path(final)
        self.overwrite = overwrite
        _check_parent(self.final)
        _check_dir_target(self.final, overwrite)
        remove_stale_temps(self.final)
        self.path = _hidden_sibling(self.final, "tmp", keep_suffix=False)
        try:
            self.path.mkdir()
        except OSError as error:
            raise _output_error(self.final, error) from error

    def commit(self) -> None:
        """fsync every file, then rename the folder to ``final``.

        A previous ``final`` is moved aside first and deleted only once the new one is in place.

        Raises:
            OutputError: ``final`` became a non-empty folder meanwhile (without ``overwrite``),
                or fsync or rename failed; the temporary folder is removed.
        """
        try:
            _check_dir_target(self.final, self.overwrite)
            _fsync_tree(self.path)
            _swap_dir_into_place(self.path, self.final)
        except OSError as error:
            self.discard()
            raise _output_error(self.final, error) from error
        except OutputError:
            self.discard()
            raise
        _fsync_dir_quietly(self.final.parent)
        log.debug("wrote folder %s", self.final)

    def discard(self) -> None:
        """Delete the temporary folder; ``final`` stays as it was. Safe to call twice."""
        shutil.rmtree(self.path, ignore_errors=True)

    def failure(self, error: OSError) -> OutputError:
        """The ``OutputError`` to raise for ``error`` while filling this folder."""
        return _output_error(self.final, error)


@contextmanager
def atomic_dir(final_dir: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; on a clean exit it becomes ``final_dir``.

    Used for PNG sequences; see :class:`AtomicDir` for ``overwrite`` and the replacement order.
    On an exception the temporary folder is deleted and ``final_dir`` is untouched.

    Raises:
        OutputError: the parent folder is missing or not writable, ``final_dir`` is a file or a
            non-empty folder (without ``overwrite``), or the disk filled up (``ENOSPC`` inside
            the block).
    """
    yield from _guarded(AtomicDir(final_dir, overwrite=overwrite))


def _guarded(target: AtomicFile | AtomicDir) -> Iterator[Path]:
    """Yield the temporary path; commit on success, discard on any exception (a full disk
    becomes an OutputError that says so)."""
    try:
        yield target.path
    except BaseException as error:
        target.discard()
        if _is_disk_full(error):
            raise target.failure(error) from error
        raise
    target.commit()


def _swap_dir_into_place(temp: Path, final: Path) -> None:
    if not final.exists():
        os.rename(temp, final)
        return
    old = _hidden_sibling(final, "old", keep_suffix=False)
    os.rename(final, old)
    try:
        os.rename(temp, final)
    except OSError:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
