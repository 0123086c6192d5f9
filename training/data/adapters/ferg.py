"""Facial Expression Research Group 2D database (FERG-DB, Aneja et al. 2016): stylised characters.

Official layout (``root`` is ``FERG_DB_256``)::

    FERG_DB_256/<character>/<character>_<expression>/<character>_<expression>_<n>.png

Characters aia, bonnie, jules, malcolm, mery, ray; expressions anger, disgust, fear, joy, neutral,
sadness, surprise. The character is the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter

CODES = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprise",
}


@register_adapter("ferg")
@dataclass(frozen=True)
class FergAdapter:
    root: Path

    def samples(self) -> list[Sample]:
        samples: list[Sample] = []
        for character in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for folder in sorted(p for p in character.iterdir() if p.is_dir()):
                prefix = f"{character.name}_"
                if not folder.name.startswith(prefix):
                    raise DataError(f"{folder}: expected a folder named {prefix}<expression>")
                expression = map_code(folder.name[len(prefix) :].lower(), CODES, folder)
                samples += [Sample(path=p, person=character.name, expression=expression) for p in image_files(folder)]
        return non_empty(samples, self.root, "ferg")
