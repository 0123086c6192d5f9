"""Fixtures shared by every test package: the real photos in tests/data (see its ATTRIBUTION.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")

DATA = Path(__file__).resolve().parent / "data"
LONDON = DATA / "london"
REPO = Path(__file__).resolve().parents[1]


def london_photo(person: str, expression: str = "neutral") -> Path:
    """tests/data/london/<neutral|smiling>/<person>.jpg"""
    return LONDON / expression / f"{person}.jpg"


def held_out_people() -> list[str]:
    split = json.loads((REPO / "resources" / "splits" / "london.json").read_text())
    return split["held_out"]


def pupils(person: str) -> np.ndarray:
    """(2, 2) pupil centres annotated by hand in the London Set template (.tem points 0 and 1)."""
    lines = (LONDON / "neutral" / f"{person}.tem").read_text().split("\n")
    return np.array([[float(v) for v in line.split()] for line in lines[1:3]])


@pytest.fixture(scope="session")
def tracker():
    from engine.face.tracker import FaceTracker, TrackerOptions

    with FaceTracker.create(TrackerOptions(smoothing=None)) as t:
        yield t


@pytest.fixture(scope="session")
def engine():
    from engine.api import Engine

    with Engine.create() as e:
        yield e
