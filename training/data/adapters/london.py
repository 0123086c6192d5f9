"""Face Research Lab London Set (DeBruine & Jones 2017, doi:10.6084/m9.figshare.5047666).

Layout (as shipped, and as resized in the shared development data)::

    info.csv            face_id,face_age,face_gender,face_eth   (one row per person)
    neutral/NNN.jpg     the person's neutral photo           -> "neutral"
    smiling/NNN.jpg     the same person smiling              -> "happy"

``NNN`` is the zero-padded ``face_id``. A person listed in info.csv without one of the two photos
is skipped with a warning; a photo of a person not in info.csv is an error.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, non_empty, register_adapter, require_dir

log = logging.getLogger(__name__)

FOLDERS = {"neutral": "neutral", "smiling": "happy"}


@register_adapter("london")
@dataclass(frozen=True)
class LondonAdapter:
    root: Path

    def _people(self) -> list[str]:
        path = self.root / "info.csv"
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except FileNotFoundError:
            raise DataError(f"{path}: missing (London set: info.csv, neutral/, smiling/)") from None
        if not rows or "face_id" not in rows[0]:
            raise DataError(f"{path}: expected a face_id column")
        return [row["face_id"].strip() for row in rows]

    def samples(self) -> list[Sample]:
        people = set(self._people())
        found: dict[str, dict[str, Path]] = {}
        for folder, expression in FOLDERS.items():
            for path in image_files(require_dir(self.root / folder, "London set photos")):
                if path.stem not in people:
                    raise DataError(f"{path}: person {path.stem!r} is not listed in info.csv")
                found.setdefault(path.stem, {})[expression] = path
        samples = []
        for person in sorted(people):
            photos = found.get(person, {})
            if len(photos) < len(FOLDERS):
                log.warning("london: person %s lacks %s; skipped", person, sorted(set(FOLDERS.values()) - set(photos)))
                continue
            samples += [Sample(path=p, person=person, expression=e) for e, p in sorted(photos.items())]
        return non_empty(samples, self.root, "london")
