"""Evaluation of a model on held-out people against the do-nothing and warp baselines."""

from __future__ import annotations

import json
import math

import pytest

from training.evaluate import DO_NOTHING, MODEL, WARP_MESH, WARP_TEMPLATE, evaluate


@pytest.fixture(scope="module")
def report(landmarkgan_checkpoint):
    return evaluate(landmarkgan_checkpoint, limit=4)


def test_report_covers_model_and_baselines(report):
    assert (report.family, report.pairs, report.people) == ("landmarkgan", 4, 4)
    assert list(report.methods) == [MODEL, DO_NOTHING, WARP_MESH, WARP_TEMPLATE]
    for scores in report.methods.values():
        assert {"psnr", "ssim", "feature_distance", "FMD-mobilenet", "identity_found", "landmark_found"} <= set(scores)
        assert math.isfinite(scores["psnr"]) and -1.0 <= scores["ssim"] <= 1.0
    assert {"stage1_landmark_l2_px256", "stage1_landmark_nme"} <= set(report.methods[MODEL])
    assert any("FMD-mobilenet" in note for note in report.notes)


def test_baselines_behave_like_real_photos(report):
    nothing = report.methods[DO_NOTHING]
    # the input photo is the same person as the target: dlib agrees, and ranks it first
    assert nothing["identity_distance"] < 0.6 and nothing["rank1"] == 1.0
    assert nothing["landmark_found"] == 1.0 and nothing["landmark_nme"] < 0.15
    # a 2-step model is far from the target; the do-nothing photo is much closer
    assert report.methods[MODEL]["psnr"] < nothing["psnr"]


def test_json_and_table(report):
    data = json.loads(report.to_json())
    assert data["methods"][DO_NOTHING]["psnr"] == pytest.approx(report.methods[DO_NOTHING]["psnr"])
    table = report.table()
    assert "psnr" in table and WARP_MESH in table


def test_g2gan_removal_is_scored_with_paper_2s_measures(tmp_path_factory):
    from tests.conftest import LONDON
    from tests.engine.trained_models import trained_model
    from training.config import DataConfig
    from training.evaluate import eval_pairs, removal_scores

    folder = trained_model("g2gan", tmp_path_factory)
    data = DataConfig(kind="london", root=str(LONDON), size=64, cache_dir=str(tmp_path_factory.mktemp("cache")))
    pairs = eval_pairs(data, 0, "held_out", limit=3)
    scores = removal_scores(folder, pairs, "onnxruntime")
    assert set(scores) == {"removal_psnr_luma", "removal_ssim_rgb", "removal_nothing_psnr_luma", "removal_nothing_ssim_rgb"}
    # a few-step G_R is far from the real neutral photo; the expressive photo itself is close
    assert 5.0 < scores["removal_psnr_luma"] < scores["removal_nothing_psnr_luma"]
    assert -1.0 <= scores["removal_ssim_rgb"] < scores["removal_nothing_ssim_rgb"] <= 1.0


def test_label_recognition_by_the_independent_judge(report):
    """Paper 5's Table II measure: the FER judge's reading of outputs and of the real targets."""
    real = report.reference["judge_recognition"]
    assert 0.0 <= real <= 1.0
    for scores in report.methods.values():
        assert 0.0 <= scores["judge_recognition"] <= 1.0
    assert "judge_recognition" in report.table()
