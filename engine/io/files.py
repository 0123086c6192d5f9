"""What an input path is, in words, before anything opens it.

A FIFO blocks the reader forever, a device such as ``/dev/zero`` never ends, and both are "not
found" to ``Path.is_file``; :func:`check_input_file` names each for what it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import InputError


def describe_non_file(path: Path) -> str:
    """Why ``path`` is not a readable regular file: "file not found", "is a folder, not ...", ..."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "file not found (a broken link)" if path.is_symlink() else "file not found"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    mode = info.st_mode
    link = f" (a link to {os.path.realpath(path)})" if path.is_symlink() else ""
    if stat.S_ISDIR(mode):
        return f"is a folder{link}, not a file"
    if stat.S_ISFIFO(mode):
        return f"is a named pipe (FIFO){link}, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"is a device{link}, not a file"
    if stat.S_ISSOCK(mode):
        return f"is a socket{link}, not a file"
    return f"is not a regular file{link}"


def check_input_file(path: Path | str, what: str = "file") -> Path:
    """``path`` if it is a regular file (after links); else :class:`InputError` saying what it is.

    what: the kind of file expected, used for folders ("is a folder, not an image").
    """
    path = Path(path)
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except OSError:
        regular = False
    if regular:
        return path
    reason = describe_non_file(path)
    if reason.startswith("is a folder"):
        reason = reason.replace("not a file", f"not {what}")
    raise InputError(f"{path}: {reason}")
