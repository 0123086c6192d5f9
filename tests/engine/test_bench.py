"""``fes bench`` reports every figure the README's Speed table quotes, from a real run.

The figures themselves are machine-dependent and belong to the benchmark, not to a test; what a
test can hold is that the README and the benchmark speak of the same quantities, and that a real
run fills each with a plausible number (a broken pipeline reports 0 fps or no frames).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"
# README Speed-table row -> where the bench JSON holds it.
ROWS = {
    "pipelined, every frame": ("fps",),
    "live, camera-paced at 25 fps": ("live", "fps"),
    "capture-to-output latency p95": ("live", "latency_ms", "p95"),
    "sequential": ("fps_sequential",),
    "per stage": ("stages_ms", "render"),
    "memory": ("rss_mb",),
}


def _speed_rows() -> list[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Speed"):].split("\n## ", 1)[0]
    return [m.group(1).strip() for m in re.finditer(r"^\| ([^|]+) \|", table, re.MULTILINE)]


def test_bench_reports_every_figure_the_readme_quotes(tmp_path, capsys):
    rows = _speed_rows()
    for row in ROWS:
        assert row in rows, f"the README's Speed table lost its {row!r} row"
    out = tmp_path / "bench.json"
    assert main(["bench", "--model", "warp", "--frames", "40", "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    for row, keys in ROWS.items():
        value = report
        for key in keys:
            value = value[key]
        assert isinstance(value, (int, float)) and value > 0, (row, value)
    assert report["frames"] == 40 and report["live"]["captured"] > 0
    printed = capsys.readouterr().out
    assert "fps" in printed and "RSS" in printed
