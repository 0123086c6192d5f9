"""engine.io.atomic: results appear whole under their final name or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.errors import OutputError
from engine.io.atomic import atomic_dir, atomic_path, write_bytes_atomic

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def fail_writes_to_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make os.write raise ENOSPC for our hidden temporary files, as a full disk would."""
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if ".tmp-" in Path(target).name or ".tmp-" in Path(target).parent.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_atomic_path_renames_a_hidden_temp_with_the_same_suffix(tmp_path: Path) -> None:
    final = tmp_path / "out.mp4"
    with atomic_path(final) as temp:
        assert temp.parent == tmp_path
        assert temp.name.startswith(".") and temp.suffix == ".mp4"
        assert temp.exists() and not final.exists()
        temp.write_bytes(b"video")
    assert final.read_bytes() == b"video"
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_atomic_path_exception_leaves_previous_file_and_no_temp(tmp_path: Path) -> None:
    final = tmp_path / "out.png"
    final.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_path(final) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("encoder crashed")
    assert final.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.png"]


def test_full_disk_is_reported_and_previous_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "result.jpg"
    final.write_bytes(b"previous result")
    fail_writes_to_temp_files(monkeypatch)
    with pytest.raises(OutputError, match=r"cannot write .*result\.jpg: the disk is full"):
        write_bytes_atomic(final, b"x" * 100_000)
    assert final.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["result.jpg"]


def test_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_bytes_atomic(tmp_path / "nope" / "out.png", b"x")


def test_parent_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="is not a folder"):
        write_bytes_atomic(tmp_path / "file" / "out.png", b"x")


def test_final_name_taken_by_a_folder_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="a folder with that name exists"):
        write_bytes_atomic(tmp_path / "out.png", b"x")


@pytest.mark.skipif(ROOT, reason="root ignores folder permissions")
def test_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            write_bytes_atomic(locked / "out.png", b"x")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs, where nobody may create files")
def test_unwritable_folder_is_an_output_error_even_for_root() -> None:
    with pytest.raises(OutputError, match=r"cannot write /sys/kernel/out\.png: "):
        write_bytes_atomic("/sys/kernel/out.png", b"x")


def test_atomic_dir_renames_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    with atomic_dir(final) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".")
        (temp / "frame_000000.png").write_bytes(b"a")
        assert not final.exists()
    assert os.listdir(final) == ["frame_000000.png"]
    assert os.listdir(tmp_path) == ["frames"]


def test_atomic_dir_refuses_non_empty_folder_before_writing(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    (final / "old.png").write_bytes(b"old")
    with pytest.raises(OutputError, match="exists and is not empty"):
        with atomic_dir(final):
            pytest.fail("the block must not run")
    assert os.listdir(final) == ["old.png"]
    assert os.listdir(tmp_path) == ["frames"]


def test_atomic_dir_overwrite_replaces_only_after_completion(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    (final / "old.png").write_bytes(b"old")
    with atomic_dir(final, overwrite=True) as temp:
        (temp / "new.png").write_bytes(b"new")
        assert os.listdir(final) == ["old.png"]
    assert os.listdir(final) == ["new.png"]
    assert os.listdir(tmp_path) == ["frames"]


def test_atomic_dir_failure_keeps_previous_folder(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    (final / "old.png").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final, overwrite=True) as temp:
            (temp / "new.png").write_bytes(b"new")
            raise KeyboardInterrupt
    assert os.listdir(final) == ["old.png"]
    assert os.listdir(tmp_path) == ["frames"]


def test_atomic_dir_replaces_an_empty_folder(tmp_path: Path) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    with atomic_dir(final) as temp:
        (temp / "a.png").write_bytes(b"a")
    assert os.listdir(final) == ["a.png"]


def test_atomic_dir_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "frames"
    fail_writes_to_temp_files(monkeypatch)
    with pytest.raises(OutputError, match="the disk is full"):
        with atomic_dir(final) as temp:
            fd = os.open(temp / "a.png", os.O_WRONLY | os.O_CREAT)
            try:
                os.write(fd, b"png")
            finally:
                os.close(fd)
    assert os.listdir(tmp_path) == []
