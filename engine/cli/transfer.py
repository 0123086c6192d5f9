"""`fes transfer`: the expression of one photo on the identity of another."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.api import Engine, EngineConfig
from engine.cli.common import add_face_index, add_model_options, check_output, note
from engine.io import read_image, write_image


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="move SRC's expression onto TGT", description="The expression of SRC on the identity of TGT.")
    p.add_argument("--source", type=Path, required=True, help="photo showing the expression")
    p.add_argument("--target", type=Path, required=True, help="photo of the identity (taken as neutral)")
    p.add_argument("--source-neutral", type=Path, help="the source person with a neutral face (else estimated)")
    p.add_argument("-o", "--output", type=Path, required=True)
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.output)
    source = read_image(args.source)
    target = read_image(args.target)
    neutral = read_image(args.source_neutral) if args.source_neutral else None
    with Engine.create(EngineConfig(model=args.model, backend=args.backend)) as engine:
        result = engine.transfer(source, target, neutral, args.face_index)
    for line in result.notes:
        note(line)
    write_image(args.output, result.image)
    print(args.output)
    return 0
