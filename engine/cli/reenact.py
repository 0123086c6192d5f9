"""`fes reenact`: drive a target photo with the face in a video or a camera."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from engine.api import ReenactConfig, Reenactor
from engine.cli.common import add_face_index, add_model_options, check_output, note
from engine.errors import InputError, NoFaceError
from engine.face.ibug68 import mesh_to_ibug68
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.io import VideoReader, open_source, open_writer, read_image
from engine.io.landmarks_json import sidecar_path
from engine.io.sources import camera_index

CAMERA_FPS = 25.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reenact", help="drive a photo with a video or camera", description="Drive TARGET's face with the face in DRIVING.")
    p.add_argument("--driving", required=True, help="a video file or a camera index (0, 1, ...)")
    p.add_argument("--target", type=Path, required=True, help="photo of the identity to animate")
    p.add_argument("-o", "--output", required=True, help="OUT.mp4, OUT.gif or a folder DIR/ for PNG frames (+ landmarks JSON)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames (needed for a camera)")
    p.add_argument("--neutral-frame", type=int, default=None, help="frame K of the driving video shows the neutral face (else estimated)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file or non-empty folder (never an input)")
    p.add_argument(
        "--pose",
        choices=("on", "off"),
        default="on",
        help="on: the target's head follows the driver's roll, yaw, pitch (up to 20 degrees), shift and scale; off: it stays still",
    )
    add_model_options(p)
    add_face_index(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames must be at least 1")
    camera = camera_index(args.driving)
    if camera is not None and args.max_frames is None:
        raise InputError("a camera never ends: give --max-frames N")
    # A folder output (PNG frames) is created by the writer: check that its parent is writable.
    output = Path(args.output.rstrip("/\\")) if args.output.endswith(("/", "\\")) else Path(args.output)
    inputs = [args.target, *([] if camera is not None else [Path(args.driving)])]
    check_output(output, inputs, overwrite=args.overwrite)
    if not output.is_dir() and not args.output.endswith(("/", "\\")):
        check_output(sidecar_path(output), inputs, overwrite=args.overwrite)
    target = read_image(args.target)
    source = open_source(args.driving)
    follow = args.pose == "on"
    config = ReenactConfig(target, model=args.model, backend=args.backend, face_index=args.face_index, follow_pose=follow)
    with source, Reenactor.create(config) as reenactor:
        for line in reenactor.target.notes:
            note(line)
        if args.neutral_frame is not None and camera is None:
            reenactor.set_neutral(_neutral_face(Path(args.driving), args.neutral_frame))
        declared = getattr(source, "frame_count", 0) or None
        total = min(args.max_frames, declared) if args.max_frames and declared else (args.max_frames or declared)
        fps = source.fps or CAMERA_FPS
        h, w = target.shape[:2]
        written = missed = 0
        last = target
        with open_writer(args.output, fps, (w, h), overwrite=args.overwrite) as writer, tqdm(
            total=total, unit="frame", desc="reenact", disable=None
        ) as bar:
            while args.max_frames is None or written < args.max_frames:
                frame = source.read()
                if frame is None:
                    break
                track = reenactor.track(frame.image, frame.timestamp_ms)
                if track is not None and camera is not None and frame.index == args.neutral_frame:
                    reenactor.set_neutral(track.face)
                if track is None:
                    missed += 1
                    writer.write(last)
                else:
                    dst = reenactor.driven_mesh(track)
                    last = reenactor.render(track, dst)
                    writer.write(last, landmarks=mesh_to_ibug68(dst), mesh=dst)
                written += 1
                bar.update(1)
        if written == 0:
            raise InputError(f"{args.driving}: no frame could be read")
    if getattr(source, "truncated", False):
        note(f"{args.driving} is truncated ({source.truncation_message}); kept the {written} frames rendered before the cut, {args.output} is complete and playable")
    if missed:
        note(f"no face in {missed} of {written} driving frames: held the last good output there")
    if reenactor.neutral_estimated:
        note("no --neutral-frame: the driving face's neutral shape was estimated from its first frame")
    print(args.output)
    return 0


def _neutral_face(path: Path, index: int):
    """The driving face in frame ``index`` of a video, detected as a still photo."""
    with VideoReader(path) as reader:
        for i, _, frame in reader:
            if i == index:
                with FaceTracker.create(TrackerOptions(max_faces=1, smoothing=None)) as tracker:
                    try:
                        return tracker.detect(frame).face
                    except NoFaceError as exc:
                        raise NoFaceError(f"--neutral-frame {index}: {exc}") from None
    raise InputError(f"--neutral-frame {index}: {path} has fewer frames")
