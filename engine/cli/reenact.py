"""`fes reenact`: drive a target photo with the face in a video or a camera."""

from __future__ import annotations

import argparse
from contextlib import ExitStack, nullcontext
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.api import ReenactConfig, Reenactor
from engine.cli.common import add_face_index, add_model_options, check_output, note
from engine.errors import InputError, NoFaceError
from engine.face.ibug68 import mesh_to_ibug68
from engine.face.tracker import FaceTracker, TrackerOptions
from engine.io import FrameSource, VideoReader, open_source, open_writer, read_image
from engine.io.landmarks_json import sidecar_path
from engine.io.sources import camera_index
from engine.pipeline.virtualcam import VirtualCamera, VirtualCameraOptions

CAMERA_FPS = 25.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reenact", help="drive a photo with a video or camera", description="Drive TARGET's face with the face in DRIVING.")
    p.add_argument("--driving", required=True, help="a video file or a camera index (0, 1, ...)")
    p.add_argument("--target", type=Path, required=True, help="photo of the identity to animate")
    p.add_argument("-o", "--output", default=None, help="OUT.mp4, OUT.gif or a folder DIR/ for PNG frames (+ landmarks JSON)")
    p.add_argument(
        "--virtual-camera",
        action="store_true",
        help="also send every frame to a virtual camera (OBS Virtual Camera, v4l2loopback) for video calls; needs the virtualcam extra",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames (needed for a camera unless --virtual-camera)")
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
    if args.output is None and not args.virtual_camera:
        raise InputError("give -o OUTPUT, --virtual-camera, or both")
    camera = camera_index(args.driving)
    if camera is not None and args.max_frames is None and args.output is not None:
        raise InputError("a camera never ends: give --max-frames N (or drop -o and stop the virtual camera with Ctrl+C)")
    inputs = [args.target, *([] if camera is not None else [Path(args.driving)])]
    if args.output is not None:
        _check_outputs(args.output, inputs, args.overwrite)
    target = read_image(args.target)
    source = open_source(args.driving)
    follow = args.pose == "on"
    config = ReenactConfig(target, model=args.model, backend=args.backend, face_index=args.face_index, follow_pose=follow)
    h, w = target.shape[:2]
    with ExitStack() as stack:
        stack.enter_context(source)
        virtual = None
        if args.virtual_camera:
            virtual = stack.enter_context(VirtualCamera.create(VirtualCameraOptions.fitting(w, h, source.fps or CAMERA_FPS)))
            note(f"sending every frame to the virtual camera {virtual.device}")
        reenactor = stack.enter_context(Reenactor.create(config))
        written, missed = _reenact(args, source, reenactor, camera, target, virtual)
    if getattr(source, "truncated", False):
        note(f"{args.driving} is truncated ({source.truncation_message}); kept the {written} frames rendered before the cut, {args.output} is complete and playable")
    if missed:
        note(f"no face in {missed} of {written} driving frames: held the last good output there")
    if reenactor.neutral_estimated:
        note("no --neutral-frame: the driving face's neutral shape was estimated from its first frame")
    if args.output is not None:
        print(args.output)
    return 0


def _check_outputs(output_arg: str, inputs: list[Path], overwrite: bool) -> None:
    """The output (and its landmarks sidecar) may be written: never over an input, replaced only
    with --overwrite. A folder output (PNG frames) is created by the writer."""
    folder = output_arg.endswith(("/", "\\"))
    output = Path(output_arg.rstrip("/\\")) if folder else Path(output_arg)
    check_output(output, inputs, overwrite=overwrite)
    if not output.is_dir() and not folder:
        check_output(sidecar_path(output), inputs, overwrite=overwrite)


def _reenact(
    args: argparse.Namespace,
    source: FrameSource,
    reenactor: Reenactor,
    camera: int | None,
    target: np.ndarray,
    virtual: VirtualCamera | None,
) -> tuple[int, int]:
    """Render the driving frames onto ``target`` ((H, W, 3) uint8 BGR) into the output and/or the
    virtual camera; (frames rendered, frames without a face)."""
    for line in reenactor.target.notes:
        note(line)
    if args.neutral_frame is not None and camera is None:
        reenactor.set_neutral(_neutral_face(Path(args.driving), args.neutral_frame))
    declared = getattr(source, "frame_count", 0) or None
    total = min(args.max_frames, declared) if args.max_frames and declared else (args.max_frames or declared)
    h, w = target.shape[:2]
    written = missed = 0
    last = target
    output = nullcontext(None) if args.output is None else open_writer(args.output, source.fps or CAMERA_FPS, (w, h), overwrite=args.overwrite)
    with output as writer, tqdm(total=total, unit="frame", desc="reenact", disable=None) as bar:
        while args.max_frames is None or written < args.max_frames:
            frame = source.read()
            if frame is None:
                break
            track = reenactor.track(frame.image, frame.timestamp_ms)
            if track is not None and camera is not None and frame.index == args.neutral_frame:
                reenactor.set_neutral(track.face)
            dst = None
            if track is None:
                missed += 1
            else:
                dst = reenactor.driven_mesh(track)
                last = reenactor.render(track, dst)
            if writer is not None and dst is None:
                writer.write(last)
            elif writer is not None:
                writer.write(last, landmarks=mesh_to_ibug68(dst), mesh=dst)
            if virtual is not None:
                virtual.send(last)
                if camera is None:
                    virtual.sleep_until_next_frame()  # a file plays at its own rate, as a camera would
            written += 1
            bar.update(1)
    if written == 0:
        raise InputError(f"{args.driving}: no frame could be read")
    return written, missed


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
