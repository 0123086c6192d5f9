"""`fes edit`: change the expression of one photo or many, by label or by dragged landmarks.

One photo and ``-o FILE`` writes that file. Several photos, ``--expression all`` or an output
folder (``-o DIR/``) write ``DIR/<photo stem>_<label>.png`` per photo and label, and with
``all`` also ``DIR/<photo stem>_contact.png``, a contact sheet of the photo and every label.
Every output is atomic; a photo that fails is reported on one line and the others go on; the
exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.api import Engine, EngineConfig
from engine.cli.common import add_face_index, add_model_options, add_overwrite, check_output, note
from engine.cli.contact_sheet import contact_sheet
from engine.errors import FesError, InputError, OutputError
from engine.geometry.labels import EXPRESSIONS, check_intensity, label_index
from engine.io import read_image, read_landmark_edits, write_image
from engine.io.landmarks_json import LandmarkEdit

ALL = "all"
BATCH_SUFFIX = ".png"
CONTACT = "contact"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        help="edit the expression of one photo or many",
        description="Edit photos' expressions by label or landmarks. Several photos, --expression all or -o DIR/ "
        "write DIR/<photo>_<label>.png (all: every label and a contact sheet DIR/<photo>_contact.png).",
    )
    p.add_argument("photos", type=Path, nargs="+", metavar="photo")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--expression", help=f"one of: {', '.join(EXPRESSIONS)}, or {ALL} (every label and a contact sheet)")
    how.add_argument("--landmarks", type=Path, help='JSON list of {"index": 0-67, "x": .., "y": ..} in photo pixels (one photo only)')
    p.add_argument("--intensity", type=float, default=1.0, help="0 to 1.5 (default 1)")
    p.add_argument("-o", "--output", required=True, help="the output photo, or a folder DIR/ for several outputs")
    add_overwrite(p, "existing output files")
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


@dataclass(frozen=True)
class Job:
    """One photo and where each of its outputs goes: label (or None for landmark edits) -> path."""

    photo: Path
    outputs: dict[str | None, Path]
    sheet: Path | None = None


def _labels(expression: str | None) -> list[str | None]:
    if expression is None:
        return [None]
    if expression.strip().lower() == ALL:
        return list(EXPRESSIONS)
    return [EXPRESSIONS[label_index(expression)]]


def _is_folder_output(text: str) -> bool:
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def plan(photos: list[Path], labels: list[str | None], output: str) -> list[Job]:
    """The outputs of every photo; raises when they would collide or need a folder that is missing."""
    batch = len(photos) > 1 or len(labels) > 1 or _is_folder_output(output)
    if not batch:
        return [Job(photos[0], {labels[0]: Path(output)})]
    folder = Path(output.rstrip("/" + os.sep) or output)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write into {folder}: it is a file; several outputs need a folder (-o DIR/)")
    if not folder.exists() and not folder.parent.is_dir():
        raise OutputError(f"cannot write into {folder}: the folder {folder.parent} does not exist")
    jobs: list[Job] = []
    seen: dict[str, Path] = {}
    for photo in photos:
        if photo.stem in seen:
            raise InputError(f"{photo} and {seen[photo.stem]} would write the same outputs ({photo.stem}_*); rename one")
        seen[photo.stem] = photo
        outputs = {label: folder / f"{photo.stem}_{label or 'edited'}{BATCH_SUFFIX}" for label in labels}
        sheet = folder / f"{photo.stem}_{CONTACT}{BATCH_SUFFIX}" if len(labels) > 1 else None
        jobs.append(Job(photo, outputs, sheet))
    return jobs


def run(args: argparse.Namespace) -> int:
    labels = _labels(args.expression)
    if args.expression is not None:
        check_intensity(args.intensity)
    edits = read_landmark_edits(args.landmarks) if args.landmarks is not None else None
    if edits is not None:
        if not edits:
            raise InputError(f"{args.landmarks}: the edit list is empty")
        if len(args.photos) > 1:
            raise InputError("--landmarks moves points in one photo's pixels: give a single photo")
    jobs = plan(args.photos, labels, args.output)
    inputs = [*args.photos, *([args.landmarks] if args.landmarks else [])]
    for job in jobs:
        for path in [*job.outputs.values(), *([job.sheet] if job.sheet else [])]:
            if path.parent.is_dir():
                check_output(path, inputs, overwrite=args.overwrite)
    single = len(jobs) == 1 and len(labels) == 1 and not _is_folder_output(args.output)
    first = read_image(jobs[0].photo) if single else None  # a bad photo fails before the engine loads
    if not single:
        Path(args.output.rstrip("/" + os.sep) or args.output).mkdir(exist_ok=True)
    failed = 0
    with Engine.create(EngineConfig(model=args.model, backend=args.backend)) as engine:
        for job in jobs:
            failed += _edit_one(engine, args, job, edits, image=first, batch=not single)
    if failed:
        note(f"{failed} of {len(jobs)} photos failed")
    return 1 if failed else 0


def _edit_one(
    engine: Engine,
    args: argparse.Namespace,
    job: Job,
    edits: list[LandmarkEdit] | None,
    *,
    image: np.ndarray | None,
    batch: bool,
) -> int:
    """Edit one photo into its outputs; in a batch a failure is reported and 1 returned, else raised."""
    try:
        if image is None:
            image = read_image(job.photo)
        results: list[tuple[str, np.ndarray]] = []
        for label, path in job.outputs.items():
            if edits is not None:
                result = engine.edit_landmarks(image, edits, args.face_index)
            else:
                result = engine.edit_expression(image, label, args.intensity, args.face_index)
            if not results:
                for line in result.notes:
                    note(f"{job.photo}: {line}" if batch else line)
            write_image(path, result.image)
            print(path)
            results.append((label or "edited", result.image))
        if job.sheet is not None:
            write_image(job.sheet, contact_sheet([("original", image), *results]))
            print(job.sheet)
    except FesError as exc:
        if not batch:
            raise
        note(f"error: {job.photo}: {exc}")
        return 1
    return 0
