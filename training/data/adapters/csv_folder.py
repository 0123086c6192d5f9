"""Any folder of photos described by a CSV file.

Layout::

    <root>/<file>          default labels.csv; header row with columns
                           path, person, expression[, intensity]
    <root>/<path>          each ``path`` is relative to the CSV's folder

``expression`` must be one of engine.geometry.labels.EXPRESSIONS (neutral, happy, sad, surprise,
anger, disgust, fear, contempt); ``intensity``, when present and not empty, is a number in 0..1.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from engine.geometry.labels import EXPRESSIONS
from training.data.adapters.base import DataError, Sample, non_empty, register_adapter

REQUIRED = ("path", "person", "expression")


def _intensity(text: str | None, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: intensity {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise DataError(f"{where}: intensity {value} is outside 0..1")
    return value


@register_adapter("csv")
@dataclass(frozen=True)
class CsvFolderAdapter:
    root: Path
    file: str = "labels.csv"

    def samples(self) -> list[Sample]:
        table = self.root / self.file
        try:
            with table.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
                columns = rows[0].keys() if rows else []
        except FileNotFoundError:
            raise DataError(f"{table}: missing (columns: path, person, expression[, intensity])") from None
        missing = [c for c in REQUIRED if c not in columns]
        if rows and missing:
            raise DataError(f"{table}: missing columns {missing}")
        samples: list[Sample] = []
        for line, row in enumerate(rows, start=2):
            where = f"{table}:{line}"
            expression = row["expression"].strip().lower()
            if expression not in EXPRESSIONS:
                raise DataError(f"{where}: unknown expression {row['expression']!r}; valid: {', '.join(EXPRESSIONS)}")
            path = table.parent / row["path"].strip()
            if not path.is_file():
                raise DataError(f"{where}: image {path} does not exist")
            samples.append(
                Sample(path=path, person=row["person"].strip(), expression=expression, intensity=_intensity(row.get("intensity"), where))
            )
        return non_empty(samples, self.root, "csv")
