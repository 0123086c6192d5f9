"""`fes recognise`: the expression of every face in one or more photos.

One line per face on stdout::

    photo.jpg face 0: happy, intensity 0.92, confidence 0.81 (geometry)

Faces are numbered largest first (the --face-index of the other commands). A photo that cannot
be read or shows no face is reported on one line on stderr and the others go on; the exit status
is 1 when any photo failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_model_options, note
from engine.errors import FesError
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.io import read_image
from engine.recognise import Recogniser, RecogniserOptions, Recognition


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recognise",
        help="print the expression of every face in photos",
        description="Print label, intensity and confidence for every face in each photo "
        "(TER-GAN's recogniser with a TER-GAN --model, else the geometric estimate).",
    )
    p.add_argument("photos", type=Path, nargs="+", metavar="photo")
    add_model_options(p)
    p.set_defaults(run=run)


def describe(photo: Path, index: int, result: Recognition) -> str:
    return (
        f"{photo} face {index}: {result.label}, intensity {result.intensity:.2f}, "
        f"confidence {result.confidence:.2f} ({result.method})"
    )


def run(args: argparse.Namespace) -> int:
    failed = 0
    with Recogniser.create(RecogniserOptions(model=args.model, backend=args.backend)) as recogniser, FaceTracker.create(
        TrackerOptions(smoothing=None)
    ) as tracker:
        for photo in args.photos:
            try:
                image = read_image(photo)
                faces = tracker.detect(image).faces
            except FesError as exc:
                if len(args.photos) == 1:
                    raise
                note(f"error: {exc}" if str(photo) in str(exc) else f"error: {photo}: {exc}")
                failed += 1
                continue
            for index, face in enumerate(faces):
                print(describe(photo, index, recogniser.recognise(face, image)))
    if failed:
        note(f"{failed} of {len(args.photos)} photos failed")
    return 1 if failed else 0
