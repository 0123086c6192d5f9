"""Radboud Faces Database (RaFD, Langner et al. 2010).

Official layout: one flat folder of photos named
``Rafd<camera angle>_<person id>_<group>_<gender>_<expression>_<gaze>.jpg``, for example
``Rafd090_01_Caucasian_female_angry_frontal.jpg``. Camera angles 000, 045, 090, 135, 180 (090 is
frontal); gaze frontal, left, right; expressions angry, contemptuous, disgusted, fearful, happy,
neutral, sad, surprised. By default only the 90-degree camera with frontal gaze is used.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter

log = logging.getLogger(__name__)

CODES = {
    "angry": "anger",
    "contemptuous": "contempt",
    "disgusted": "disgust",
    "fearful": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprise",
}
NAME = re.compile(r"^Rafd(?P<angle>\d{3})_(?P<person>\d+)_(?P<group>.+)_(?P<expression>[a-z]+)_(?P<gaze>frontal|left|right)$", re.I)


@register_adapter("rafd")
@dataclass(frozen=True)
class RafdAdapter:
    root: Path
    angles: tuple[int, ...] = (90,)
    gazes: tuple[str, ...] = ("frontal",)
    strict: bool = True

    def samples(self) -> list[Sample]:
        samples: list[Sample] = []
        skipped = 0
        for path in image_files(self.root):
            match = NAME.match(path.stem)
            if match is None:
                if self.strict:
                    raise DataError(f"{path}: not a RaFD name like Rafd090_01_Caucasian_female_angry_frontal.jpg")
                skipped += 1
                continue
            if int(match["angle"]) not in self.angles or match["gaze"].lower() not in self.gazes:
                continue
            expression = map_code(match["expression"].lower(), CODES, path)
            samples.append(Sample(path=path, person=match["person"], expression=expression))
        if skipped:
            log.warning("rafd: %d files with other names skipped", skipped)
        return non_empty(samples, self.root, "rafd")
