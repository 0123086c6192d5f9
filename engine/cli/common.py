"""Options and helpers every `fes` command shares."""

from __future__ import annotations

import argparse
import logging
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


def quiet_native_logs() -> None:
    """MediaPipe's C++ layers log to stderr by default; keep the CLI's output to our own lines."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("absl").setLevel(logging.ERROR)
