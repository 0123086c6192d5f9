"""``fes-train``: the whole path through the console script, and one clear line on bad input."""

from __future__ import annotations

import json

import pytest

import resources

from engine.manifest import load_manifest
from training.cli import main
from tests.training.conftest import write_config


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "--config", "missing.toml"], "fes-train fit: missing.toml: config file not found"),
        (["export", "missing.pt", "--out", "x"], "fes-train export: missing.pt: checkpoint not found"),
        (["eval", "."], "no manifest.json in the model folder"),
        (["fit-expressions", "--data-kind", "affectnet", "--data-root", ".", "--out", "t.json"], "unknown dataset kind 'affectnet'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_fit_export_eval(capsys, tmp_path, preprocess_cache):
    config = write_config(tmp_path / "tiny.toml", "lgan", preprocess_cache, steps=1)
    code, out, _ = run(capsys, "fit", "--config", str(config), "--run-dir", str(tmp_path / "run"), "--quiet")
    assert code == 0 and "step 1" in out
    checkpoint = tmp_path / "run" / "checkpoints" / "step_00000001.pt"
    assert checkpoint.is_file() and (tmp_path / "run" / "config.toml").is_file()

    report = tmp_path / "eval.json"
    code, out, _ = run(capsys, "eval", str(checkpoint), "--limit", "3", "--json", str(report))
    assert code == 0 and "input (do nothing)" in out
    scores = json.loads(report.read_text())["methods"]["model"]

    folder = tmp_path / "models" / "tiny-lgan"
    code, out, _ = run(capsys, "export", str(checkpoint), "--out", str(folder), "--metrics", str(report))
    assert code == 0 and "exported tiny-lgan" in out
    manifest = load_manifest(folder)
    assert manifest.family == "lgan" and manifest.auxiliary == {}
    assert manifest.metrics["psnr"] == pytest.approx(scores["psnr"])

    code, out, _ = run(capsys, "eval", str(folder), "--config", str(config), "--limit", "2")
    assert code == 0 and "2 pairs of 2 held-out people" in out


def test_fit_expressions(capsys, tmp_path, london_root, preprocess_cache):
    out_file = tmp_path / "templates.json"
    code, out, _ = run(capsys, "fit-expressions", "--data-kind", "london", "--data-root", str(london_root),
                       "--size", "128", "--cache-dir", str(preprocess_cache), "--min-samples", "3", "--out", str(out_file))
    split = json.loads((resources.ROOT / "splits" / "london.json").read_text())
    dev_pairs = [p for p in london_root.glob("smiling/*.jpg") if p.stem in split["dev"]]
    assert code == 0 and f"happy: {len(dev_pairs)} pairs (fitted)" in out
    saved = json.loads(out_file.read_text())
    assert list(saved["fitted"]) == ["happy"] and len(saved["fitted"]["happy"]) == 478
