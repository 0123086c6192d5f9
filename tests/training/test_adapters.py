"""Every dataset adapter reads a small tree in its documented layout, built from real London photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from training.data.adapters import DataError, adapter_kinds, make_adapter
from tests.conftest import london_photo

PEOPLE = ("001", "002", "005")


def photo(person: str = "001", expression: str = "neutral") -> Path:
    return london_photo(person, expression)


def put(target: Path, person: str = "001", expression: str = "neutral") -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(photo(person, expression), target)
    return target


def by_name(samples):
    return {s.path.name: s for s in samples}


def test_known_kinds():
    assert set(adapter_kinds()) >= {"london", "ckplus", "oulu", "rafd", "jaffe", "kdef", "ferg", "csv"}


def test_unknown_kind_and_option_are_errors(tmp_path):
    with pytest.raises(DataError, match="unknown dataset kind 'affectnet'"):
        make_adapter("affectnet", tmp_path)
    with pytest.raises(DataError, match="unknown options"):
        make_adapter("rafd", tmp_path, {"pose": 3})
    with pytest.raises(DataError, match="is not a folder"):
        make_adapter("rafd", tmp_path / "missing")


def test_london(london_root):
    samples = make_adapter("london", london_root).samples()
    photos = sorted(london_root.glob("neutral/*.jpg")) + sorted(london_root.glob("smiling/*.jpg"))
    assert sorted(s.path for s in samples) == sorted(photos)
    assert {s.expression for s in samples} == {"neutral", "happy"}
    first = [s for s in samples if s.person == "001"]
    assert {(s.path.parent.name, s.expression) for s in first} == {("neutral", "neutral"), ("smiling", "happy")}
    assert all(s.intensity is None and s.sequence is None for s in samples)


def test_london_person_missing_from_info_is_an_error(london_copy):
    put(london_copy / "neutral" / "999.jpg")
    with pytest.raises(DataError, match="999"):
        make_adapter("london", london_copy).samples()


def test_ckplus_first_frames_neutral_last_frames_peak(tmp_path):
    root = tmp_path / "CK+"
    for frame in range(1, 9):
        put(root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{frame:08d}.png", "001", "neutral" if frame < 5 else "smiling")
    (root / "Emotion" / "S005" / "001").mkdir(parents=True)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000008_emotion.txt").write_text("   5.0000000e+00\n")
    put(root / "cohn-kanade-images" / "S010" / "002" / "S010_002_00000001.png", "002")  # no label file: skipped
    samples = make_adapter("ckplus", root, {"neutral_frames": 2, "peak_frames": 3}).samples()
    assert [(s.frame, s.expression) for s in samples] == [(1, "neutral"), (2, "neutral"), (6, "happy"), (7, "happy"), (8, "happy")]
    assert {s.person for s in samples} == {"S005"} and {s.sequence for s in samples} == {"S005/001"}


def test_ckplus_unknown_code_is_an_error(tmp_path):
    root = tmp_path / "CK+"
    for frame in range(1, 7):
        put(root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{frame:08d}.png")
    (root / "Emotion" / "S005" / "001").mkdir(parents=True)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000006_emotion.txt").write_text("9.0\n")
    with pytest.raises(DataError, match="unknown expression code '9'"):
        make_adapter("ckplus", root).samples()


def test_oulu_uses_visible_strong_light_only(tmp_path):
    root = tmp_path / "OriginalImg"
    for frame in range(8):
        put(root / "VIS" / "Strong" / "P001" / "Happiness" / f"{frame:03d}.jpeg", "001", "smiling" if frame > 4 else "neutral")
        put(root / "VIS" / "Weak" / "P001" / "Happiness" / f"{frame:03d}.jpeg")
        put(root / "NI" / "Strong" / "P001" / "Happiness" / f"{frame:03d}.jpeg")
    samples = make_adapter("oulu", root).samples()
    assert len(samples) == 6
    assert all("/VIS/Strong/" in str(s.path) for s in samples)
    assert [(s.frame, s.expression) for s in samples] == [(0, "neutral"), (1, "neutral"), (2, "neutral"), (5, "happy"), (6, "happy"), (7, "happy")]
    assert samples[0].sequence == "P001/Happiness"
    put(root / "VIS" / "Strong" / "P002" / "Boredom" / "000.jpeg")
    with pytest.raises(DataError, match="unknown expression code 'Boredom'"):
        make_adapter("oulu", root).samples()


def test_rafd_frontal_gaze_and_camera_90_by_default(tmp_path):
    root = tmp_path / "RaFD"
    put(root / "Rafd090_01_Caucasian_female_angry_frontal.jpg")
    put(root / "Rafd090_01_Caucasian_female_happy_frontal.jpg", "001", "smiling")
    put(root / "Rafd090_01_Caucasian_female_happy_left.jpg")
    put(root / "Rafd045_01_Caucasian_female_happy_frontal.jpg")
    put(root / "Rafd090_57_Moroccan_male_contemptuous_frontal.jpg", "002")
    samples = by_name(make_adapter("rafd", root).samples())
    assert set(samples) == {
        "Rafd090_01_Caucasian_female_angry_frontal.jpg",
        "Rafd090_01_Caucasian_female_happy_frontal.jpg",
        "Rafd090_57_Moroccan_male_contemptuous_frontal.jpg",
    }
    assert samples["Rafd090_01_Caucasian_female_angry_frontal.jpg"].expression == "anger"
    assert samples["Rafd090_57_Moroccan_male_contemptuous_frontal.jpg"].person == "57"
    assert len(make_adapter("rafd", root, {"angles": [45, 90], "gazes": ["frontal", "left"]}).samples()) == 5
    put(root / "IMG_0001.jpg")
    with pytest.raises(DataError, match="IMG_0001.jpg"):
        make_adapter("rafd", root).samples()
    assert len(make_adapter("rafd", root, {"strict": False}).samples()) == 3


def test_jaffe_names(tmp_path):
    root = tmp_path / "jaffe"
    root.mkdir()
    gray = cv2.cvtColor(cv2.imread(str(photo())), cv2.COLOR_BGR2GRAY)
    for name in ("KA.AN1.39.tiff", "KA.NE2.27.tiff", "KM.HA3.6.tiff", "KM.FE1.14.tiff"):
        assert cv2.imwrite(str(root / name), gray)
    (root / "README_FIRST.txt").write_text("not an image")
    samples = by_name(make_adapter("jaffe", root).samples())
    assert {n: (s.person, s.expression) for n, s in samples.items()} == {
        "KA.AN1.39.tiff": ("KA", "anger"),
        "KA.NE2.27.tiff": ("KA", "neutral"),
        "KM.HA3.6.tiff": ("KM", "happy"),
        "KM.FE1.14.tiff": ("KM", "fear"),
    }
    shutil.copyfile(root / "KA.AN1.39.tiff", root / "KA.XX1.40.tiff")
    with pytest.raises(DataError, match="unknown expression code 'XX'"):
        make_adapter("jaffe", root).samples()


def test_kdef_straight_angle_both_sessions(tmp_path):
    root = tmp_path / "KDEF"
    put(root / "AF01" / "AF01NES.JPG")
    put(root / "AF01" / "AF01HAS.JPG", "001", "smiling")
    put(root / "AF01" / "AF01HAHL.JPG")
    put(root / "BF01" / "BF01AFS.JPG")
    put(root / "AM02" / "AM02SUS.JPG", "002")
    samples = by_name(make_adapter("kdef", root).samples())
    assert {n: (s.person, s.expression, s.sequence) for n, s in samples.items()} == {
        "AF01NES.JPG": ("F01", "neutral", "A"),
        "AF01HAS.JPG": ("F01", "happy", "A"),
        "BF01AFS.JPG": ("F01", "fear", "B"),
        "AM02SUS.JPG": ("M02", "surprise", "A"),
    }
    assert len(make_adapter("kdef", root, {"sessions": ["A"], "angles": ["S", "HL"]}).samples()) == 4


def test_ferg_characters_are_people(tmp_path):
    root = tmp_path / "FERG_DB_256"
    put(root / "aia" / "aia_joy" / "aia_joy_1.png", "001", "smiling")
    put(root / "aia" / "aia_neutral" / "aia_neutral_1.png")
    put(root / "ray" / "ray_sadness" / "ray_sadness_7.png", "002")
    samples = by_name(make_adapter("ferg", root).samples())
    assert {n: (s.person, s.expression) for n, s in samples.items()} == {
        "aia_joy_1.png": ("aia", "happy"),
        "aia_neutral_1.png": ("aia", "neutral"),
        "ray_sadness_7.png": ("ray", "sad"),
    }
    put(root / "ray" / "ray_sleepy" / "ray_sleepy_1.png")
    with pytest.raises(DataError, match="unknown expression code 'sleepy'"):
        make_adapter("ferg", root).samples()


def test_csv_folder(tmp_path):
    root = tmp_path / "mine"
    put(root / "photos" / "a.jpg")
    put(root / "photos" / "b.jpg", "001", "smiling")
    (root / "labels.csv").write_text("path,person,expression,intensity\nphotos/a.jpg,ann,neutral,\nphotos/b.jpg,ann,Happy,0.7\n")
    samples = by_name(make_adapter("csv", root).samples())
    assert (samples["a.jpg"].expression, samples["a.jpg"].intensity) == ("neutral", None)
    assert (samples["b.jpg"].expression, samples["b.jpg"].intensity, samples["b.jpg"].person) == ("happy", 0.7, "ann")

    (root / "labels.csv").write_text("path,person,expression\nphotos/a.jpg,ann,smug\n")
    with pytest.raises(DataError, match=r"labels.csv:2: unknown expression 'smug'"):
        make_adapter("csv", root).samples()
    (root / "labels.csv").write_text("path,person,expression\nphotos/zzz.jpg,ann,happy\n")
    with pytest.raises(DataError, match="does not exist"):
        make_adapter("csv", root).samples()
    (root / "labels.csv").write_text("file,who\nphotos/a.jpg,ann\n")
    with pytest.raises(DataError, match="missing columns"):
        make_adapter("csv", root).samples()
