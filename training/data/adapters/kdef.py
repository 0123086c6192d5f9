"""Karolinska Directed Emotional Faces (KDEF, Lundqvist et al. 1998).

Official layout: one folder per session and person, ``KDEF/AF01/AF01ANS.JPG``. A name is
session (A or B), gender (F or M), two-digit id, expression code, angle:

    expression  AF afraid, AN angry, DI disgusted, HA happy, NE neutral, SA sad, SU surprised
    angle       S straight, HL / HR half left / right, FL / FR full left / right

``root`` is the ``KDEF`` folder. The person is gender + id (``F01``); the session is recorded as
the sample's ``sequence``. By default only straight (S) photos of both sessions are used.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter

log = logging.getLogger(__name__)

CODES = {"AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
NAME = re.compile(r"^(?P<session>[AB])(?P<gender>[FM])(?P<id>\d{2})(?P<code>[A-Z]{2})(?P<angle>S|HL|HR|FL|FR)$", re.I)


@register_adapter("kdef")
@dataclass(frozen=True)
class KdefAdapter:
    root: Path
    angles: tuple[str, ...] = ("S",)
    sessions: tuple[str, ...] = ("A", "B")
    strict: bool = True

    def samples(self) -> list[Sample]:
        samples: list[Sample] = []
        skipped = 0
        folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        for path in (p for folder in folders for p in image_files(folder)):
            match = NAME.match(path.stem)
            if match is None:
                if self.strict:
                    raise DataError(f"{path}: not a KDEF name like AF01ANS.JPG")
                skipped += 1
                continue
            session, angle = match["session"].upper(), match["angle"].upper()
            if session not in self.sessions or angle not in self.angles:
                continue
            expression = map_code(match["code"].upper(), CODES, path)
            person = match["gender"].upper() + match["id"]
            samples.append(Sample(path=path, person=person, expression=expression, sequence=session))
        if skipped:
            log.warning("kdef: %d files with other names skipped", skipped)
        return non_empty(samples, self.root, "kdef")
