"""`fes edit`: change the expression of a photo by label or by dragged landmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.api import Engine, EngineConfig
from engine.cli.common import add_face_index, add_model_options, check_output, note
from engine.errors import InputError
from engine.geometry.labels import EXPRESSIONS, check_intensity, label_index
from engine.io import read_image, read_landmark_edits, write_image


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="edit a photo's expression", description="Edit a photo's expression by label or landmarks.")
    p.add_argument("photo", type=Path)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--expression", help=f"one of: {', '.join(EXPRESSIONS)}")
    how.add_argument("--landmarks", type=Path, help='JSON list of {"index": 0-67, "x": .., "y": ..} in photo pixels')
    p.add_argument("--intensity", type=float, default=1.0, help="0 to 1.5 (default 1)")
    p.add_argument("-o", "--output", type=Path, required=True)
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.expression is not None:
        label_index(args.expression)
        check_intensity(args.intensity)
    edits = read_landmark_edits(args.landmarks) if args.landmarks is not None else None
    check_output(args.output)
    image = read_image(args.photo)
    with Engine.create(EngineConfig(model=args.model, backend=args.backend)) as engine:
        if edits is not None:
            if not edits:
                raise InputError(f"{args.landmarks}: the edit list is empty")
            result = engine.edit_landmarks(image, edits, args.face_index)
        else:
            result = engine.edit_expression(image, args.expression.lower(), args.intensity, args.face_index)
    for line in result.notes:
        note(line)
    write_image(args.output, result.image)
    print(args.output)
    return 0
