"""Train, export and judge the five seed families in warp-guided mode for docs/results.md.

For each family: `fes-train fit --config training/configs/prewarp/<family>.toml` (64 px, batch 8,
10 minutes of training: the common CPU schedule), export of the last checkpoint, and
`fes-train heldout --transfer-only` (the strict protocol of training/protocol.py, run through the
engine exactly as `fes transfer` runs a model). Then it prints the Markdown table, with the warp
and the oracle warp beside the families.

    python scripts/prewarp_table.py [--skip-fit] [family ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FAMILIES = ("lgan", "g2gan", "unet_cgan", "tergan", "landmarkgan")
COLUMNS = (("crop_ssim", "crop SSIM", "{:.3f}"), ("crop_psnr", "PSNR", "{:.2f}"), ("mouth_ssim", "mouth SSIM", "{:.3f}"),
           ("mouth_error", "mouth error (IOD)", "{:.4f}"), ("dlib_to_real", "dlib to real", "{:.3f}"),
           ("happy_rate", "happy", "{:.2f}"))


def train(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "training.cli", *args], check=True)


def report(family: str, fit: bool) -> dict:
    run_dir = Path("runs") / f"{family}-prewarp64"
    folder = Path("runs/exports") / f"{family}-prewarp64"
    out = Path("runs/heldout") / f"{family}-prewarp64"
    if fit:
        train("fit", "--config", f"training/configs/prewarp/{family}.toml", "--run-dir", str(run_dir), "--quiet")
        checkpoint = sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1]
        train("export", str(checkpoint), "--out", str(folder), "--force")
        train("heldout", "--model", str(folder), "--transfer-only", "--out", str(out))
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    fit = "--skip-fit" not in argv
    families = [a for a in argv if not a.startswith("--")] or list(FAMILIES)
    reports = {family: report(family, fit) for family in families}
    first = next(iter(reports.values()))["transfer"]
    rows = {"do nothing": first["do_nothing"], "oracle warp": first["oracle_warp"]}
    for family, rep in reports.items():
        steps = json.loads((Path("runs") / f"{family}-prewarp64" / "metrics.jsonl").read_text().splitlines()[-1])["step"]
        rows[f"{family} (prewarp, {steps} steps)"] = rep["transfer"]["model"]
    print("| system | " + " | ".join(name for _, name, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(fmt.format(values[key]) for key, _, fmt in COLUMNS) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
