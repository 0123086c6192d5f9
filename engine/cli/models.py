"""`fes models`: the models, backends and devices this machine can use."""

from __future__ import annotations

import argparse

from engine.manifest import load_manifest
from engine.synthesis.photo_generators import WARP, available_models, model_folder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models, backends and devices")
    p.add_argument("--model", default=None, help=argparse.SUPPRESS)
    p.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.backends import describe_backends

    print("models:")
    for name in available_models():
        if name == WARP:
            print(f"  {WARP:<22} classical mesh warp, training free (all backends)")
            continue
        m = load_manifest(model_folder(name))
        inputs = ", ".join(spec.kind for spec in m.inputs)
        print(f"  {name:<22} {m.family} @ {m.image_size}px  inputs: {inputs}")
    print("backends:")
    for line in describe_backends():
        print(f"  {line}")
    return 0
