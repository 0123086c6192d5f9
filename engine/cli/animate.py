"""`fes animate`: a keyframed expression sequence of one photo (MP4, GIF or PNG frames + landmarks JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from engine.animate import animate, frame_times, parse_keys
from engine.api import Engine, EngineConfig
from engine.cli.common import add_face_index, add_model_options, check_output, note
from engine.io import open_writer, read_image
from engine.io.landmarks_json import sidecar_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "animate",
        help="animate a photo through keyframed expressions",
        description="Render PHOTO moving through keyframed expressions, interpolated by the shape model.",
    )
    p.add_argument("photo", type=Path)
    p.add_argument("--keys", required=True, help='TIME:LABEL[@INTENSITY],... in seconds, e.g. "0:neutral,1.5:happy@1.0,3:surprise@0.8"')
    p.add_argument("-o", "--output", required=True, help="OUT.mp4, OUT.gif or a folder DIR/ for PNG frames (+ landmarks JSON)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file or non-empty folder (never an input)")
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    keys = parse_keys(args.keys)
    total = len(frame_times(keys, args.fps))
    folder = args.output.endswith(("/", "\\"))
    output = Path(args.output.rstrip("/\\")) if folder else Path(args.output)
    check_output(output, [args.photo], overwrite=args.overwrite)
    if not folder and not output.is_dir():
        check_output(sidecar_path(output), [args.photo], overwrite=args.overwrite)
    photo = read_image(args.photo)
    h, w = photo.shape[:2]
    with Engine.create(EngineConfig(model=args.model, backend=args.backend)) as engine:
        detection = engine.detect(photo, args.face_index)
        for line in detection.notes:
            note(line)
        with open_writer(args.output, args.fps, (w, h), overwrite=args.overwrite) as writer, tqdm(
            total=total, unit="frame", desc="animate", disable=None
        ) as bar:
            for frame in animate(engine, photo, keys, args.fps, detection=detection):
                writer.write(frame.image, landmarks=frame.landmarks68, mesh=frame.mesh)
                bar.update(1)
    print(args.output)
    return 0
