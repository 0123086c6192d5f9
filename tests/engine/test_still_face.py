"""Still is still: a motionless face filmed with sensor noise drives a motionless target.

Measure: the driven target mesh (what the renderer is asked to draw) mapped into the 256 px
protocol crop of the target (training.protocol), its per-point standard deviation over time,
averaged over the 478 points. Baseline beaten: the same chain on raw (unsmoothed) landmarks.
"""

from __future__ import annotations

import numpy as np

from engine.api import ReenactConfig, Reenactor
from engine.face.smoothing import OneEuroParams
from engine.io.images import read_image
from tests.conftest import london_photo
from training.protocol import reference_layout, stable_similarity

FRAMES = 40
SENSOR_NOISE = 4.0  # grey levels, per pixel and frame


def _still_jitter(smoothing: OneEuroParams | None) -> float:
    driver = read_image(london_photo("001"))
    target = read_image(london_photo("002"))
    rng = np.random.default_rng(0)
    meshes = []
    with Reenactor(ReenactConfig(target_image=target, model="warp", smoothing=smoothing)) as reenactor:
        crop = stable_similarity(reenactor.target_face.mesh, reference_layout())
        for i in range(FRAMES):
            noisy = np.clip(driver + rng.normal(0.0, SENSOR_NOISE, driver.shape), 0, 255).astype(np.uint8)
            track = reenactor.track(noisy, 1000.0 + 33.3 * i)
            assert track is not None
            mesh = reenactor.driven_mesh(track)
            meshes.append(mesh @ crop[:, :2].T + crop[:, 2])
    return float(np.array(meshes)[10:].std(axis=0).mean())


def test_a_still_face_with_sensor_noise_drives_a_still_target():
    raw = _still_jitter(None)
    smoothed = _still_jitter(OneEuroParams())
    assert smoothed <= 0.15, f"jitter {smoothed:.3f} px in the 256 px crop"
    assert smoothed < 0.6 * raw, f"smoothing barely helps: {smoothed:.3f} against raw {raw:.3f} px"
