"""Preprocessing through the engine: aligned crops and landmarks cached once, faceless photos reported."""

from __future__ import annotations

import shutil

import cv2
import numpy as np

from engine.geometry.align import canonical68
from training.data.adapters import make_adapter
from training.data.preprocess import cache_dir, preprocess
from tests.conftest import DATA, london_photo


def test_crops_landmarks_cache_and_faceless_photos(tmp_path):
    root = tmp_path / "mine"
    (root / "photos").mkdir(parents=True)
    for person in ("001", "004"):
        shutil.copyfile(london_photo(person), root / "photos" / f"{person}.jpg")
    wall = cv2.imread(str(DATA / "cc0" / "lisa_lisa1.jpg"))[:48, :48]  # a corner of a real photo, no face
    assert cv2.imwrite(str(root / "photos" / "wall.png"), wall)
    (root / "labels.csv").write_text(
        "path,person,expression\nphotos/001.jpg,001,neutral\nphotos/004.jpg,004,neutral\nphotos/wall.png,x,neutral\n"
    )
    samples = make_adapter("csv", root).samples()
    cache = tmp_path / "cache"

    prepared, report = preprocess(samples, root, 64, cache)
    assert (report.total, report.reused, report.processed) == (3, 0, 3)
    assert list(report.skipped) == [str(root / "photos" / "wall.png")]
    assert [p.sample.person for p in prepared] == ["001", "004"]
    for item in prepared:
        assert item.image.shape == (64, 64, 3) and item.image.dtype == np.uint8
        assert item.landmarks.shape == (68, 2) and item.landmarks.dtype == np.float32
        assert item.mesh3d.shape == (478, 3)
        # aligned: the stable points land near the canonical template scaled to the crop
        eyes = item.landmarks[[36, 45]]
        assert np.abs(eyes - canonical68()[[36, 45]] * 64).max() < 4.0
    folder = cache_dir(root, 64, cache)
    assert len(list(folder.glob("*.npz"))) == 2 and len(list(folder.glob("*.noface"))) == 1

    again, report = preprocess(samples, root, 64, cache)
    assert (report.reused, report.processed, len(report.skipped)) == (3, 0, 1)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(prepared, again))
    assert cache_dir(root, 32, cache) != folder
