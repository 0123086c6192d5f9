"""``fes-train heldout`` measures a generator by the strict protocol on real held-out photos and
writes its report, table and grids; bad input gets one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from training.cli import main


@pytest.fixture(scope="module")
def run(london_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("heldout")
    assert main(["heldout", "--model", "warp", "--people", "2", "--data-root", str(london_root), "--out", str(out)]) == 0
    return out


def test_report_ranks_the_oracle_above_do_nothing(run: Path) -> None:
    report = json.loads((run / "results.json").read_text())
    assert report["people"] == ["004", "010"]
    oracle, nothing = report["transfer"]["oracle_warp"], report["transfer"]["do_nothing"]
    assert oracle["mouth_error"] < 0.02 < 0.05 < nothing["mouth_error"]
    assert oracle["crop_ssim"] > nothing["crop_ssim"] and oracle["mouth_ssim"] > nothing["mouth_ssim"]
    assert report["cross"]["dlib_to_source"] > report["cross"]["dlib_to_target"]
    assert report["labels"]["contempt@1.0"] is None and report["labels"]["neutral@1.0"] == 1.0
    assert "| oracle_warp |" in (run / "results.md").read_text()


def test_grids_are_readable_pngs(run: Path) -> None:
    transfer = cv2.imread(str(run / "transfer_grid.png"))
    labels = cv2.imread(str(run / "labels_grid.png"))
    assert transfer.shape[1] == 4 * 256 and transfer.shape[0] > 2 * 256
    assert labels.shape[1] == 8 * 256 and labels.shape[0] >= 2 * 256


def test_missing_data_root_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["heldout", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "neutral/" in err
