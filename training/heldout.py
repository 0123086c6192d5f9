"""Held-out evaluation of a generator by the strict protocol (``training.protocol``).

On the held-out people of resources/splits/london.json:
- same-person transfer ``engine.transfer(smile, neutral, neutral)`` against the real smile, beside
  the oracle warp and do-nothing (the neutral unchanged): crop SSIM, PSNR, mouth SSIM, mouth
  error, dlib distance to the real smile, the FER judge's happy rate; plus the real smiles' own;
- cross-identity (person i's smile onto person i+1): dlib distance to the target and to the
  source, and |corner lift - the source's own lift| in inter-ocular distances;
- label edits at intensity 1.0 and 1.5: the judge's recognition rate per label (paper 5's
  Table II "real / synthetic" measure; real photos exist for neutral and happy).
Writes results.json, results.md and PNG sample grids into the output folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

import resources
from engine.api import Engine, EngineConfig
from engine.geometry.labels import EXPRESSIONS
from engine.io.atomic import write_bytes_atomic
from engine.io.images import read_image
from training.judges import MEASURABLE, ExpressionJudge, IdentityJudge
from training.metrics import inception_score
from training.protocol import (
    MeshDetector,
    ProtocolCrop,
    corner_lift,
    crop_psnr,
    crop_ssim,
    mouth_box,
    mouth_error,
    mouth_ssim,
    oracle_warp,
    protocol_crop,
)

log = logging.getLogger(__name__)
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "london"
INTENSITIES: tuple[float, ...] = (1.0, 1.5)
SYSTEMS: tuple[str, ...] = ("model", "oracle_warp", "do_nothing")


def held_out_people() -> list[str]:
    """The held-out person ids of resources/splits/london.json, in order."""
    return list(json.loads((resources.ROOT / "splits" / "london.json").read_text())["held_out"])


@dataclass
class TransferScores:
    """Means over people of one system's same-person transfer against the real smile."""

    crop_ssim: float
    crop_psnr: float
    mouth_ssim: float
    mouth_error: float
    dlib_to_real: float
    happy_rate: float


@dataclass
class HeldoutReport:
    """transfer: system -> scores; real_happy_rate: the real smiles' own; cross: mean dlib
    distances and |lift diff|; labels: "label@intensity" -> recognition rate (None: not
    measurable); real_labels: the judge's accuracy on real photos (neutral, happy);
    inception_score: IS on the judge's classes (training.metrics.inception_score) of every label
    edit ("edits") and of the real neutral and smiling photos ("real")."""

    model: str
    people: list[str]
    transfer: dict[str, TransferScores] = field(default_factory=dict)
    real_happy_rate: float | None = None
    cross: dict[str, float] = field(default_factory=dict)
    labels: dict[str, float | None] = field(default_factory=dict)
    real_labels: dict[str, float] = field(default_factory=dict)
    inception_score: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def table(self) -> str:
        """Markdown tables of the report."""
        lines = [f"# Held-out evaluation: `{self.model}` ({len(self.people)} people)", ""]
        if self.transfer:
            lines += ["| same-person transfer | crop SSIM | PSNR | mouth SSIM | mouth error (IOD) | dlib to real | happy |",
                      "|---|---|---|---|---|---|---|"]
            for name, s in self.transfer.items():
                lines.append(f"| {name} | {s.crop_ssim:.3f} | {s.crop_psnr:.2f} | {s.mouth_ssim:.3f} | "
                             f"{s.mouth_error:.4f} | {s.dlib_to_real:.3f} | {s.happy_rate:.2f} |")
            lines += [f"| real smile | 1 | inf | 1 | 0 | 0 | {self.real_happy_rate:.2f} |", ""]
        if self.cross:
            lines += ["| cross-identity | value |", "|---|---|"]
            lines += [f"| {k} | {v:.3f} |" for k, v in self.cross.items()] + [""]
        if self.labels:
            lines += ["| label | " + " | ".join(f"x{i}" for i in INTENSITIES) + " | real |",
                      "|---|" + "---|" * (len(INTENSITIES) + 1)]
            for label in EXPRESSIONS:
                cells = [self.labels.get(f"{label}@{i}") for i in INTENSITIES]
                real = self.real_labels.get(label)
                lines.append(f"| {label} | " + " | ".join("n/a" if c is None else f"{c:.2f}" for c in cells)
                             + f" | {'-' if real is None else f'{real:.2f}'} |")
        if self.inception_score:
            lines += ["", "| IS on the FER-2013 classes | value |", "|---|---|"]
            lines += [f"| {k} | {v:.2f} |" for k, v in self.inception_score.items()]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Person:
    neutral: np.ndarray
    smile: np.ndarray
    mesh_n: np.ndarray
    mesh_s: np.ndarray


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    write_bytes_atomic(path, buf.tobytes())


def _closeup(crop: ProtocolCrop, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(crop.image[y0:y1, x0:x1], (256, 256 * (y1 - y0) // max(1, x1 - x0)), interpolation=cv2.INTER_CUBIC)


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    width = max(sum(im.shape[1] for im in row) for row in rows)
    out = []
    for row in rows:
        strip = np.concatenate(row, axis=1)
        out.append(np.pad(strip, ((0, 4), (0, width - strip.shape[1]), (0, 0)), constant_values=255))
    return np.concatenate(out, axis=0)


def _transfer(engine: Engine, people: dict[str, _Person], det: MeshDetector, judge: ExpressionJudge,
              ident: IdentityJudge, out: Path, report: HeldoutReport) -> None:
    scores: dict[str, list[list[float]]] = {name: [] for name in SYSTEMS}
    real_happy, rows = [], []
    for pid, p in people.items():
        ref = protocol_crop(p.smile, p.mesh_s)
        real_happy.append(judge.label(p.smile, p.mesh_s) == "happy")
        images = {"model": engine.transfer(p.smile, p.neutral, p.neutral).image,
                  "oracle_warp": oracle_warp(p.neutral, p.mesh_n, p.mesh_s), "do_nothing": p.neutral}
        crops = {}
        for name, image in images.items():
            mesh = det.mesh(image)
            c = crops[name] = protocol_crop(image, mesh)
            scores[name].append([crop_ssim(c, ref), crop_psnr(c, ref), mouth_ssim(c, ref), mouth_error(c.mesh, ref.mesh),
                                 ident.distance(image, p.smile, mesh, p.mesh_s), float(judge.label(image, mesh) == "happy")])
        order = [crops["do_nothing"], crops["oracle_warp"], crops["model"], ref]
        box = mouth_box(ref.mesh)
        rows += [[c.image for c in order], [_closeup(c, box) for c in order]]
        log.info("transfer %s done", pid)
    for name, vals in scores.items():
        report.transfer[name] = TransferScores(*[float(np.mean(v)) for v in zip(*vals)])
    report.real_happy_rate = float(np.mean(real_happy))
    _write_png(out / "transfer_grid.png", _grid(rows))


def _cross(engine: Engine, people: dict[str, _Person], det: MeshDetector, ident: IdentityJudge, report: HeldoutReport) -> None:
    ids = list(people)
    to_b, to_a, lift = [], [], []
    for a_id, b_id in zip(ids, ids[1:] + ids[:1]):
        a, b = people[a_id], people[b_id]
        image = engine.transfer(a.smile, b.neutral, a.neutral).image
        mesh = det.mesh(image)
        to_b.append(ident.distance(image, b.neutral, mesh, b.mesh_n))
        to_a.append(ident.distance(image, a.smile, mesh, a.mesh_s))
        a_lift = corner_lift(protocol_crop(a.smile, a.mesh_s).mesh) - corner_lift(protocol_crop(a.neutral, a.mesh_n).mesh)
        b_lift = corner_lift(protocol_crop(image, mesh).mesh) - corner_lift(protocol_crop(b.neutral, b.mesh_n).mesh)
        lift.append(abs(b_lift - a_lift))
    report.cross = {"dlib_to_target": float(np.mean(to_b)), "dlib_to_source": float(np.mean(to_a)),
                    "corner_lift_abs_diff_iod": float(np.mean(lift))}


def _labels(engine: Engine, people: dict[str, _Person], judge: ExpressionJudge, det: MeshDetector,
            out: Path, report: HeldoutReport) -> None:
    hits: dict[str, list[bool]] = {}
    probabilities: list[list[float]] = []
    grid_rows: list[list[np.ndarray]] = []
    for k, (pid, p) in enumerate(people.items()):
        row = []
        for label in EXPRESSIONS:
            for intensity in INTENSITIES:
                image = engine.edit_expression(p.neutral, label, intensity).image
                if label in MEASURABLE:
                    probs = judge.probabilities(image, det.mesh(image))
                    probabilities.append(list(probs.values()))
                    hits.setdefault(f"{label}@{intensity}", []).append(max(probs, key=probs.__getitem__) == label)
                if k < 2 and intensity == 1.0:
                    row.append(protocol_crop(image, det.mesh(image)).image)
        if row:
            grid_rows.append(row)
    report.labels = {f"{label}@{i}": (float(np.mean(hits[f"{label}@{i}"])) if label in MEASURABLE else None)
                     for label in EXPRESSIONS for i in INTENSITIES}
    report.real_labels = {
        "neutral": float(np.mean([judge.label(p.neutral, p.mesh_n) == "neutral" for p in people.values()])),
        "happy": float(np.mean([judge.label(p.smile, p.mesh_s) == "happy" for p in people.values()])),
    }
    real = [list(judge.probabilities(image, mesh).values()) for p in people.values()
            for image, mesh in ((p.neutral, p.mesh_n), (p.smile, p.mesh_s))]
    report.inception_score = {"edits": inception_score(np.array(probabilities)), "real": inception_score(np.array(real))}
    _write_png(out / "labels_grid.png", _grid(grid_rows))


def evaluate_heldout(model: str, out: str | Path, data_root: str | Path = DEFAULT_DATA_ROOT, people: int | None = None,
                     transfer: bool = True, labels: bool = True) -> HeldoutReport:
    """Run the held-out evaluation of ``model`` ('warp', a bundled name or a model folder) on the
    first ``people`` held-out people (all 16 by default) of ``data_root`` (London Set layout:
    neutral/ID.jpg, smiling/ID.jpg); write results.json, results.md and grids into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = held_out_people()[:people] if people else held_out_people()
    judge, ident = ExpressionJudge(), IdentityJudge()
    report = HeldoutReport(model=model, people=ids)
    with MeshDetector() as det, Engine.create(EngineConfig(model=model)) as engine:
        loaded = {}
        for pid in ids:
            n = read_image(Path(data_root) / "neutral" / f"{pid}.jpg")
            s = read_image(Path(data_root) / "smiling" / f"{pid}.jpg")
            loaded[pid] = _Person(n, s, det.mesh(n), det.mesh(s))
        if transfer:
            _transfer(engine, loaded, det, judge, ident, out, report)
            _cross(engine, loaded, det, ident, report)
        if labels:
            _labels(engine, loaded, judge, det, out, report)
    write_bytes_atomic(out / "results.json", report.to_json().encode("utf-8"))
    write_bytes_atomic(out / "results.md", report.table().encode("utf-8"))
    return report
