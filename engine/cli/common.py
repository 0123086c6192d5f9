"""Options and helpers every `fes` command shares."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.errors import OutputError
from engine.synthesis.generators import DEFAULT_MODEL, WARP


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{WARP!r} (the default), a bundled model name or a model folder")
    parser.add_argument("--backend", default="auto", help="auto (default), onnxruntime, torch or tensorrt")


def add_face_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--face-index", type=int, default=None, help="which face when there are several (0 = largest)")


def check_output(path: Path) -> Path:
    """Fail early, before any work, when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: no permission to write in {parent}")
    if path.is_dir() and path.suffix:
        raise OutputError(f"cannot write {path}: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
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
