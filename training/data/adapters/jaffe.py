"""Japanese Female Facial Expression database (JAFFE, Lyons et al. 1998).

Official layout: one flat folder of 213 TIFF images named ``<person>.<code><index>.<image id>.tiff``,
for example ``KA.AN1.39.tiff`` (person KA, anger, first anger photo, image 39). Codes: NE neutral,
HA happy, SA sad, SU surprise, AN anger, DI disgust, FE fear. The 10 people are KA, KL, KM, KR, MK,
NA, NM, TM, UY, YM.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter

log = logging.getLogger(__name__)

CODES = {"NE": "neutral", "HA": "happy", "SA": "sad", "SU": "surprise", "AN": "anger", "DI": "disgust", "FE": "fear"}
NAME = re.compile(r"^(?P<person>[A-Z]{2})\.(?P<code>[A-Z]{2})(?P<index>\d+)\.(?P<id>\d+)$")


@register_adapter("jaffe")
@dataclass(frozen=True)
class JaffeAdapter:
    root: Path
    strict: bool = True

    def samples(self) -> list[Sample]:
        samples: list[Sample] = []
        skipped = 0
        for path in image_files(self.root):
            match = NAME.match(path.stem)
            if match is None:
                if self.strict:
                    raise DataError(f"{path}: not a JAFFE name like KA.AN1.39.tiff")
                skipped += 1
                continue
            expression = map_code(match["code"], CODES, path)
            samples.append(Sample(path=path, person=match["person"], expression=expression))
        if skipped:
            log.warning("jaffe: %d files with other names skipped", skipped)
        return non_empty(samples, self.root, "jaffe")
