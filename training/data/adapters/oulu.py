"""Oulu-CASIA NIR&VIS facial expression database (Zhao et al. 2011).

Official layout (the ``OriginalImg`` or ``Preprocess/Aligned`` tree; ``root`` is the folder that
holds ``VIS``)::

    VIS/Strong/P001/Anger/000.jpeg ... 018.jpeg
    VIS/{Strong,Weak,Dark}/...        NI/{Strong,Weak,Dark}/...   (near-infrared, not used)

Expressions: Anger, Disgust, Fear, Happiness, Sadness, Surprise. Each sequence starts neutral and
ends at the peak. As paper 2 (section 4.1) does, only visible light (VIS) under strong
illumination is used by default; the first ``neutral_frames`` frames are neutral, the last
``peak_frames`` frames carry the sequence's expression. ``sequence`` is ``P001/Anger``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter, require_dir

CODES = {
    "Anger": "anger",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happiness": "happy",
    "Sadness": "sad",
    "Surprise": "surprise",
}


def _frame_number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise DataError(f"{path}: expected a numbered frame like 000.jpeg") from None


@register_adapter("oulu")
@dataclass(frozen=True)
class OuluCasiaAdapter:
    root: Path
    spectrum: str = "VIS"
    illumination: str = "Strong"
    neutral_frames: int = 3
    peak_frames: int = 3

    def samples(self) -> list[Sample]:
        base = require_dir(self.root / self.spectrum / self.illumination, f"Oulu-CASIA {self.spectrum}/{self.illumination}")
        samples: list[Sample] = []
        for person_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for clip in sorted(p for p in person_dir.iterdir() if p.is_dir()):
                expression = map_code(clip.name, CODES, clip)
                frames = sorted(image_files(clip), key=_frame_number)
                if len(frames) < self.neutral_frames + self.peak_frames:
                    raise DataError(f"{clip}: {len(frames)} frames, fewer than neutral_frames + peak_frames")
                chosen = [(p, "neutral") for p in frames[: self.neutral_frames]]
                chosen += [(p, expression) for p in frames[len(frames) - self.peak_frames :]]
                sequence = f"{person_dir.name}/{clip.name}"
                samples += [
                    Sample(path=p, person=person_dir.name, expression=e, sequence=sequence, frame=_frame_number(p))
                    for p, e in chosen
                ]
        return non_empty(samples, self.root, "oulu")
