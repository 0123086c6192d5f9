"""`fes transfer`: the expression of one photo on the identity of another."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.api import Engine, EngineConfig
from engine.cli.common import add_face_index, add_model_options, add_overwrite, check_output, note
from engine.io import read_image, write_image
from engine.neutralise import neutralise


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="move SRC's expression onto TGT", description="The expression of SRC on the identity of TGT.")
    p.add_argument("--source", type=Path, required=True, help="photo showing the expression")
    p.add_argument("--target", type=Path, required=True, help="photo of the identity (neutralised first when it shows an expression)")
    p.add_argument("--source-neutral", type=Path, help="the source person with a neutral face (else estimated)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--keep-target-expression", action="store_true", help="take the target as neutral even when it shows an expression")
    p.add_argument(
        "--pose",
        choices=("on", "off"),
        default="on",
        help="on: the target's head turns, shifts and scales as the source's did from its neutral photo; off: it stays still",
    )
    add_overwrite(p)
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inputs = [args.source, args.target, *([args.source_neutral] if args.source_neutral else [])]
    check_output(args.output, inputs, overwrite=args.overwrite)
    source = read_image(args.source)
    target = read_image(args.target)
    neutral = read_image(args.source_neutral) if args.source_neutral else None
    with Engine.create(EngineConfig(model=args.model, backend=args.backend)) as engine:
        if not args.keep_target_expression:
            neutralised = neutralise(engine, target, args.face_index)
            if neutralised.changed:
                note(f"target: {neutralised.describe()}")
                target = neutralised.image
        result = engine.transfer(source, target, neutral, args.face_index, follow_pose=args.pose == "on")
    for line in result.notes:
        note(line)
    write_image(args.output, result.image)
    print(args.output)
    return 0
