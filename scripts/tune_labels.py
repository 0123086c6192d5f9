"""Calibrate label recipes on London DEV people only: how often the FER-2013 judge reads each
candidate recipe as its label.

::

    .venv/bin/python scripts/tune_labels.py --candidates cands.json --people 24 [--model warp]

``cands.json``: ``{"extra_units": {AU: {...}}, "candidates": [{"label": "fear", "units": {...}}, ...]}``
(``extra_units`` in the action-unit format of resources/expressions/templates.json). Each candidate
replaces its label's recipe in a copy of the bundled templates; every dev person's neutral photo
is edited at intensity 1.0 and 1.5 and judged. Prints, per candidate: the rate read as the label
and the mean probability of the label. The held-out people of resources/splits/london.json are
never loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from engine.api import Engine, EngineConfig
from engine.geometry.expressions import DEFAULT_PATH
from engine.io import read_image
from training.heldout import DEFAULT_DATA_ROOT
from training.judges import ExpressionJudge
from training.protocol import MeshDetector

SPLIT = Path(__file__).resolve().parents[1] / "resources" / "splits" / "london.json"


def dev_people(count: int) -> list[str]:
    split = json.loads(SPLIT.read_text(encoding="utf-8"))
    held = set(split["held_out"])
    people = [p for p in split["dev"] if p not in held]
    step = max(1, len(people) // count)
    return people[::step][:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=Path, required=True)
    parser.add_argument("--people", type=int, default=24)
    parser.add_argument("--model", default="warp")
    parser.add_argument("--intensities", default="1.0,1.5")
    args = parser.parse_args()
    spec = json.loads(args.candidates.read_text(encoding="utf-8"))
    base = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    base["action_units"].update(spec.get("extra_units", {}))
    intensities = [float(v) for v in args.intensities.split(",")]
    judge = ExpressionJudge()
    people = dev_people(args.people)
    with MeshDetector() as det, tempfile.TemporaryDirectory() as tmp:
        photos = {p: read_image(Path(DEFAULT_DATA_ROOT) / "neutral" / f"{p}.jpg") for p in people}
        for k, cand in enumerate(spec["candidates"]):
            templates = json.loads(json.dumps(base))
            templates["expressions"][cand["label"]] = {"units": cand["units"], **({"side": cand["side"]} if "side" in cand else {})}
            path = Path(tmp) / f"t{k}.json"
            path.write_text(json.dumps(templates), encoding="utf-8")
            with Engine.create(EngineConfig(model=args.model, templates=path)) as engine:
                cells = []
                for intensity in intensities:
                    hits, probs = [], []
                    for image in photos.values():
                        out = engine.edit_expression(image, cand["label"], intensity).image
                        p = judge.probabilities(out, det.mesh(out))
                        hits.append(max(p, key=p.__getitem__) == cand["label"])
                        probs.append(p[cand["label"]])
                    cells.append(f"x{intensity}: {np.mean(hits):.2f} (p {np.mean(probs):.2f})")
            print(f"{cand['label']:<9} {json.dumps(cand['units']):<90} " + "  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
