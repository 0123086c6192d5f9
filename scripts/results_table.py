"""Export, evaluate and illustrate the CPU-trained families for docs/results.md.

For each run folder runs/<family>-cpu64 (made by `fes-train fit --config
training/configs/cpu/<family>.toml --run-dir runs/<family>-cpu64`):

1. `fes-train export` of its last checkpoint to runs/exports/<family> (ONNX parity checked);
2. `fes-train eval` of that folder on the London held-out people -> runs/eval/<family>.json;
3. one sample grid, docs/images/results_grid.png: for four held-out people, the neutral input,
   the warp to the real smile's landmarks, every family's output, and the real smile.

Then it prints the Markdown table that docs/results.md carries.

    python scripts/results_table.py /path/to/shared/data/london
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from engine.face.tracker import FaceTracker, TrackerOptions
from engine.geometry.align import align_face, transform_points
from engine.io import read_image, write_image
from engine.synthesis.neural_crop import NeuralGenerator
from engine.synthesis.warp import warp_face

FAMILIES = ("lgan", "g2gan", "unet_cgan", "tergan", "landmarkgan")
PEOPLE = ("010", "061", "104", "135")
SIZE = 64
TILE = 128
METRICS = (
    ("psnr", "PSNR dB", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("feature_distance", "MobileNetV2 feature dist.", "{:.3f}"),
    ("FMD-mobilenet", "FMD (MobileNetV2)", "{:.1f}"),
    ("identity_distance", "dlib identity dist.", "{:.3f}"),
    ("landmark_nme", "landmark NME", "{:.4f}"),
)


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "training.cli", *args], check=True)


def last_checkpoint(run_dir: Path) -> Path:
    return sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1]


def export_and_eval(family: str, london: Path) -> dict:
    run_dir = Path("runs") / f"{family}-cpu64"
    folder = Path("runs/exports") / family
    report = Path("runs/eval") / f"{family}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    run("export", str(last_checkpoint(run_dir)), "--out", str(folder), "--force", "--data-root", str(london))
    run("eval", str(folder), "--config", f"training/configs/cpu/{family}.toml", "--data-root", str(london), "--json", str(report))
    return json.loads(report.read_text())


def table(reports: dict[str, dict]) -> str:
    first = next(iter(reports.values()))["methods"]
    columns = {"do nothing": first["input (do nothing)"], "warp (real smile's mesh)": first["warp (target mesh)"]}
    columns.update({family: report["methods"]["model"] for family, report in reports.items()})
    lines = ["| measure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key, name, fmt in METRICS:
        cells = []
        for values in columns.values():
            value = values.get(key)
            cells.append(fmt.format(value) if isinstance(value, (int, float)) else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid(london: Path) -> np.ndarray:
    nets = {family: NeuralGenerator.open(Path("runs/exports") / family, backend="onnxruntime") for family in FAMILIES}
    rows = []
    with FaceTracker.create(TrackerOptions(smoothing=None)) as tracker:
        for person in PEOPLE:
            neutral = read_image(london / "neutral" / f"{person}.jpg")
            smile = read_image(london / "smiling" / f"{person}.jpg")
            n_face, s_face = tracker.detect(neutral).face, tracker.detect(smile).face
            n_crop = align_face(neutral, n_face.landmarks68, SIZE)
            s_crop = align_face(smile, s_face.landmarks68, SIZE)
            target_lm = transform_points(s_face.landmarks68, s_crop.matrix)
            target_mesh = transform_points(transform_points(s_face.mesh, s_crop.matrix), n_crop.inverse)
            warped = align_face(warp_face(neutral, n_face.mesh, target_mesh).image, n_face.landmarks68, SIZE).image
            other = PEOPLE[(PEOPLE.index(person) + 1) % len(PEOPLE)]
            other_smile = read_image(london / "smiling" / f"{other}.jpg")
            source = align_face(other_smile, tracker.detect(other_smile).face.landmarks68, SIZE).image
            tiles = [n_crop.image, warped]
            for family, net in nets.items():
                tiles.append(net.generate(n_crop.image, target_lm, "happy", 1.0, source_crop=source if family == "tergan" else None))
            tiles.append(s_crop.image)
            rows.append(np.concatenate([cv2.resize(t, (TILE, TILE), interpolation=cv2.INTER_CUBIC) for t in tiles], axis=1))
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for i, name in enumerate(("input", "warp", *FAMILIES, "real smile")):
        cv2.putText(header, name, (i * TILE + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, *rows], axis=0)


def main(london: Path) -> None:
    reports = {family: export_and_eval(family, london) for family in FAMILIES}
    write_image("docs/images/results_grid.png", grid(london))
    print(table(reports))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
