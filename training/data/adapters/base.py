"""The record every dataset adapter yields, and the registry that maps a dataset kind to its adapter.

An adapter is a frozen dataclass whose fields are its options (``root`` first); ``samples()``
reads the dataset's official layout and returns :class:`Sample` records sorted by path.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from engine.errors import FesError
from engine.geometry.labels import EXPRESSIONS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


class DataError(FesError):
    """A dataset folder does not follow the layout its adapter documents."""


@dataclass(frozen=True)
class Sample:
    """One photo of one person showing one expression.

    path: the image file. person: the dataset's person id (unique within the dataset).
    expression: a name from engine.geometry.labels.EXPRESSIONS. intensity: 0..1 when the dataset
    states one, else None. sequence / frame: the clip and frame index for video datasets
    (CK+, Oulu-CASIA), else None (KDEF uses ``sequence`` for its photo session A / B).
    """

    path: Path
    person: str
    expression: str
    intensity: float | None = None
    sequence: str | None = None
    frame: int | None = None

    def __post_init__(self) -> None:
        if self.expression not in EXPRESSIONS:
            raise DataError(f"{self.path}: expression {self.expression!r} is not one of {', '.join(EXPRESSIONS)}")


class Adapter(Protocol):
    root: Path

    def samples(self) -> list[Sample]: ...


_ADAPTERS: dict[str, type] = {}


def register_adapter(kind: str) -> Callable[[type], type]:
    """Class decorator: makes a dataset adapter available under ``kind`` (the config's data.kind)."""

    def wrap(cls: type) -> type:
        if kind in _ADAPTERS:
            raise ValueError(f"dataset kind {kind!r} registered twice")
        _ADAPTERS[kind] = cls
        return cls

    return wrap


def adapter_kinds() -> list[str]:
    return sorted(_ADAPTERS)


def make_adapter(kind: str, root: str | Path, options: dict[str, Any] | None = None) -> Adapter:
    """Build the adapter for ``kind`` with its options; unknown kinds or options raise :class:`DataError`."""
    try:
        cls = _ADAPTERS[kind]
    except KeyError:
        raise DataError(f"unknown dataset kind {kind!r}; known: {', '.join(adapter_kinds())}") from None
    options = dict(options or {})
    names = {f.name for f in dataclasses.fields(cls)} - {"root"}
    unknown = set(options) - names
    if unknown:
        raise DataError(f"{kind}: unknown options {sorted(unknown)}; valid: {sorted(names)}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"{kind}: dataset root {path} is not a folder")
    return cls(root=path, **fixed)


def map_code(code: str, table: dict[str, str], where: Path | str) -> str:
    """Translate a dataset's expression code through its explicit table, or raise naming the file."""
    try:
        return table[code]
    except KeyError:
        raise DataError(f"{where}: unknown expression code {code!r}; known: {', '.join(sorted(table))}") from None


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted; other files (READMEs, .DS_Store) are skipped."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: missing folder ({what})")
    return path


def non_empty(samples: list[Sample], root: Path, kind: str) -> list[Sample]:
    if not samples:
        raise DataError(f"{kind}: no images found under {root} in the documented layout")
    samples.sort(key=lambda s: str(s.path))
    log.info("%s: %d images of %d people under %s", kind, len(samples), len({s.person for s in samples}), root)
    return samples
