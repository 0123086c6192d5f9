"""Make resources/samples/driving.mp4: a synthetic driving clip from two real photos of one person.

A morph of London Set person 009 (a dev person with a broad, open smile) from neutral to smiling and back (both photos warped to the
in-between FaceMesh and cross-dissolved), with a slow, small head motion (rotation, shift,
scale, inside a 10 % zoom so no border ever shows) added, 25 fps, 4 s. The clip is synthetic (see resources/samples/ATTRIBUTION.md).

    python scripts/make_driving_clip.py /path/to/shared/data/london
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

import resources
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import similarity, transform_points
from engine.io import open_writer, read_image
from engine.synthesis.warp import warp_face

PERSON = "009"
FPS = 25.0
ZOOM = 1.1  # margin for the head motion: rotation and shift never reach the photo's edge
# (seconds, smile amount) key frames: hold neutral, smile, hold, back, hold.
KEYS = ((0.0, 0.0), (0.6, 0.0), (1.6, 1.0), (2.4, 1.0), (3.4, 0.0), (4.0, 0.0))


def smile_at(t: float) -> float:
    times, values = zip(*KEYS)
    x = float(np.interp(t, times, values))
    return x * x * (3 - 2 * x)  # ease in and out


def main(london: Path) -> None:
    neutral_img = read_image(london / "neutral" / f"{PERSON}.jpg")
    smile_img = read_image(london / "smiling" / f"{PERSON}.jpg")
    with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as tracker:
        neutral = tracker.detect(neutral_img).face
        smile = tracker.detect(smile_img).face
    # Put the smiling photo onto the neutral one (similarity on the eyes and nose) first.
    stable = [36, 39, 42, 45, 27, 28, 29, 30, 31, 35]
    m = similarity(smile.landmarks68[stable], neutral.landmarks68[stable])
    h, w = neutral_img.shape[:2]
    smile_img = cv2.warpAffine(smile_img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    smile_mesh = transform_points(smile.mesh, m)
    out = resources.SAMPLES / "driving.mp4"
    frames = int(KEYS[-1][0] * FPS)
    with open_writer(out, FPS, (w, h)) as writer:
        for i in range(frames):
            t = i / FPS
            a = smile_at(t)
            mesh = (1 - a) * neutral.mesh + a * smile_mesh
            from_neutral = warp_face(neutral_img, neutral.mesh, mesh, fill_mouth=False).image.astype(np.float32)
            from_smile = warp_face(smile_img, smile_mesh, mesh, fill_mouth=False).image.astype(np.float32)
            frame = ((1 - a) * from_neutral + a * from_smile).astype(np.uint8)
            angle = 3.0 * np.sin(2 * np.pi * t / 4.0)
            shift = (8.0 * np.sin(2 * np.pi * t / 3.0), 4.0 * np.sin(2 * np.pi * t / 2.5))
            scale = ZOOM + 0.03 * np.sin(2 * np.pi * t / 4.0)
            motion = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
            motion[:, 2] += shift
            writer.write(cv2.warpAffine(frame, motion, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    print(f"wrote {out} ({frames} frames)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
