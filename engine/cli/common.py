"""Options and helpers every `fes` command shares."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from engine.errors import OutputError
from engine.synthesis.photo_generators import DEFAULT_MODEL, WARP


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{WARP!r} (the default), a bundled model name or a model folder")
    parser.add_argument("--backend", default="auto", help="auto (default), onnxruntime, torch or tensorrt")


def add_face_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--face-index", type=int, default=None, help="which face when there are several (0 = largest)")


def add_overwrite(parser: argparse.ArgumentParser, what: str = "an existing output file") -> None:
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what} (never an input)")


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file, through links and relative parts alike."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: Path, inputs: Iterable[Path | str] = (), *, overwrite: bool = False) -> Path:
    """Fail early, before any work, when ``path`` cannot or must not be written.

    inputs: the files the command reads; an output that resolves to any of them (after links)
    is refused, with or without ``overwrite``. overwrite: allow replacing an existing file at
    ``path``; without it an existing file is refused (folders are checked by their writer).
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: no permission to write in {parent}")
    for source in inputs:
        if same_file(path, Path(source)):
            raise OutputError(f"cannot write {path}: it is an input of this command ({source}); choose another output name")
        if path.is_dir() and Path(os.path.realpath(source)).is_relative_to(os.path.realpath(path)):
            raise OutputError(f"cannot write {path}: the folder holds an input of this command ({source}); choose another output")
    if path.is_dir() and path.suffix:
        raise OutputError(f"cannot write {path}: it is a folder")
    if path.exists() and not path.is_dir():
        if not overwrite:
            raise OutputError(f"cannot write {path}: the file exists (add --overwrite to replace it)")
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: the file is read-only")
    return path


def note(message: str) -> None:
    """A line for the user on stderr (stdout stays for results)."""
    print(f"fes: {message}", file=sys.stderr)


def quiet_native_stderr() -> None:
    """Keep MediaPipe's native chatter out of the terminal, for the console script only.

    TFLite and absl write INFO/WARNING lines ("Created TensorFlow Lite XNNPACK delegate",
    "Feedback manager requires...") straight to file descriptor 2 from their own threads, and no
    setting turns them off. The command line points fd 2 at /dev/null and gives Python's
    ``sys.stderr`` (our messages, logging, tracebacks) a duplicate of the real stderr, so the user
    sees one clear line on bad input. ``fes -v`` skips this and shows everything.
    """
    sys.stderr.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
