"""Extended Cohn-Kanade (CK+, Lucey et al. 2010).

Official layout::

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      one float: the sequence's emotion code

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
Every sequence runs from a neutral first frame to the peak expression in its last frame; only the
327 sequences with an Emotion file carry a label, the others are skipped. As in paper 1 (section
4.1), the first ``neutral_frames`` frames are used as neutral and the last ``peak_frames`` frames as
the labelled expression. ``sequence`` is ``S005/001``, ``frame`` the 1-based frame number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.data.adapters.base import DataError, Sample, image_files, map_code, non_empty, register_adapter, require_dir

CODES = {
    "0": "neutral",
    "1": "anger",
    "2": "contempt",
    "3": "disgust",
    "4": "fear",
    "5": "happy",
    "6": "sad",
    "7": "surprise",
}


def _emotion_code(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").split()
    try:
        return str(int(float(text[0])))
    except (IndexError, ValueError):
        raise DataError(f"{path}: expected one emotion code number, got {' '.join(text)!r}") from None


def _frame_number(path: Path) -> int:
    try:
        return int(path.stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        raise DataError(f"{path}: expected a name like S005_001_00000001.png") from None


@register_adapter("ckplus")
@dataclass(frozen=True)
class CkPlusAdapter:
    root: Path
    neutral_frames: int = 3
    peak_frames: int = 3

    def samples(self) -> list[Sample]:
        images = require_dir(self.root / "cohn-kanade-images", "CK+ image sequences")
        emotions = require_dir(self.root / "Emotion", "CK+ emotion labels")
        samples: list[Sample] = []
        for label_file in sorted(emotions.glob("S*/*/*_emotion.txt")):
            person, clip = label_file.parent.parent.name, label_file.parent.name
            expression = map_code(_emotion_code(label_file), CODES, label_file)
            frames = sorted(image_files(images / person / clip), key=_frame_number) if (images / person / clip).is_dir() else []
            if len(frames) < self.neutral_frames + self.peak_frames:
                raise DataError(f"{images / person / clip}: {len(frames)} frames, fewer than neutral_frames + peak_frames")
            sequence = f"{person}/{clip}"
            chosen = [(p, "neutral") for p in frames[: self.neutral_frames]]
            chosen += [(p, expression) for p in frames[len(frames) - self.peak_frames :]]
            samples += [
                Sample(path=p, person=person, expression=e, sequence=sequence, frame=_frame_number(p)) for p, e in chosen
            ]
        return non_empty(samples, self.root, "ckplus")
