"""`fes bench`: speed, latency and memory of live reenactment on this machine.

Runs the live pipeline (engine.pipeline, blocking mode so every frame counts) on the bundled
driving clip with the bundled target photo, then the same frames sequentially, then times the
model's generator alone on every backend and precision this machine offers. Prints a table;
``--json FILE`` writes the figures (keys: backend, model, frames, fps, latency_ms, stages_ms,
generator_ms, fps_sequential, rss_mb, rss_growth_mb, ...). ``--soak N`` adds an N-frame run and
reports the RSS growth over it (the 10,000-frame memory check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

import resources
from engine.api import ReenactConfig, Reenactor
from engine.backends.base import candidates, default_threads, get_backend
from engine.backends.select import ssim, to_image
from engine.cli.common import check_output, note
from engine.errors import FesError, InputError
from engine.geometry.align import align_face, transform_points
from engine.io.atomic import write_bytes_atomic
from engine.io.images import read_image
from engine.io.sources import Frame, FrameSource, camera_index, open_source
from engine.manifest import load_manifest
from engine.pipeline import LivePipeline, PipelineOptions, PipelineResult, PipelineStats, run_sequential
from engine.synthesis.neural_crop import NeuralGenerator, probe_inputs
from engine.synthesis.photo_generators import WARP, available_models, model_folder
from engine.synthesis.refiner import RefinerGenerator, is_refiner

DRIVING = resources.SAMPLES / "driving.mp4"
TARGET = resources.SAMPLES / "target_f.jpg"
WARMUP_FRAMES = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure frames per second, latency and memory",
        description="Measure live reenactment on this machine: pipelined and sequential FPS, latency, per-backend generator times, memory.",
    )
    p.add_argument("--frames", type=int, default=300, help="frames per run (default 300; the clip loops)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--soak", type=int, default=0, metavar="N", help="run N more frames and report RSS growth over them")
    p.add_argument("--generator-runs", type=int, default=30, metavar="K", help="timed generator runs per backend (default 30)")
    p.add_argument("--driving", default=str(DRIVING), help="driving video (default: the bundled clip)")
    p.add_argument("--target", type=Path, default=TARGET, help="target photo (default: the bundled one)")
    p.add_argument("--model", default=None, help="a bundled model name or a model folder (default: the bundled model, else warp)")
    p.add_argument("--backend", default="auto", help="auto (default: calibrated), or e.g. onnxruntime, onnxruntime-int8, torch-bf16")
    p.set_defaults(run=run)


def default_model() -> str:
    """The first bundled learned model, or the warp when none ships."""
    learned = [name for name in available_models() if name != WARP]
    return learned[0] if learned else WARP


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux: now; macOS: the peak; NaN where neither
    /proc nor the ``resource`` module exists, as on Windows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class ClipLoop(FrameSource):
    """The driving clip played again and again as one source whose time stamps keep increasing
    across loops and reopenings (the tracker's video mode requires that).

    paced: hand frames out at the clip's frame rate, as a camera would (set per run).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"{path} (looped)"
        self.fps = None
        self.paced = False
        self._source: FrameSource | None = None
        self._offset_ms = 0.0
        self._last_ms = -1.0
        self._index = 0
        self._clock: tuple[float, float] | None = None  # (monotonic s, timestamp ms) when pacing began

    def read(self) -> Frame:
        frame = self._source.read() if self._source is not None else None
        if frame is None:
            self._restart()
            frame = self._source.read()  # type: ignore[union-attr]
            if frame is None:
                raise InputError(f"{self.path}: no frame could be read")
        timestamp = self._offset_ms + frame.timestamp_ms
        self._last_ms = timestamp
        if self.paced:
            self._pace(timestamp)
        self._index += 1
        return Frame(image=frame.image, timestamp_ms=timestamp, index=self._index - 1)

    def _pace(self, timestamp_ms: float) -> None:
        now = time.monotonic()
        if self._clock is None:
            self._clock = (now, timestamp_ms)
            return
        delay = self._clock[0] + (timestamp_ms - self._clock[1]) / 1000.0 - now
        if delay > 0:
            time.sleep(delay)

    def _restart(self) -> None:
        self.close()
        self._source = open_source(self.path)
        self.fps = self._source.fps
        self.size = self._source.size
        self._offset_ms = self._last_ms + 1000.0 / (self.fps or 30.0)

    def close(self) -> None:
        self._clock = None
        if self._source is not None:
            self._source.close()
            self._source = None


def _pipelined(
    loop: ClipLoop,
    reenactor: Reenactor,
    frames: int,
    live: bool = False,
    on_result: Callable[[PipelineResult], None] | None = None,
) -> PipelineStats:
    """Blocking run (every frame; throughput) or, with ``live``, a camera-like run: frames paced at
    the clip's rate, dropped when a stage is busy (latency as a user sees it)."""
    loop.paced = live
    options = PipelineOptions(blocking=not live, max_frames=frames)
    pipeline = LivePipeline.create(lambda: loop, reenactor.track, reenactor.render, options, on_result=on_result)
    with pipeline:
        pipeline.start()
        pipeline.wait()
    if pipeline.error is not None:
        raise pipeline.error
    return pipeline.stats()


def _percentiles(samples: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(samples, [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3)}


def generator_times(folder: Path, probe: dict[str, np.ndarray], runs: int) -> dict[str, dict]:
    """Per backend-precision p50/p95 ms of the generator alone on one real face (``probe``: its
    inputs, batch 1), with SSIM and max-abs against the fp32 reference (the first fp32 backend timed)."""
    manifest = load_manifest(folder)
    results: dict[str, dict] = {}
    reference: np.ndarray | None = None
    pairs = sorted(candidates(), key=lambda p: p[1] != "fp32")
    for name, precision in pairs:
        label = f"{name}-{precision}"
        try:
            backend = get_backend(name).load(manifest, folder, precision, threads=default_threads())
        except FesError as exc:
            results[label] = {"error": str(exc)}
            continue
        with backend:
            for _ in range(3):
                out = backend.run(probe)
            times = []
            for _ in range(max(1, runs)):
                t0 = time.perf_counter()
                out = backend.run(probe)
                times.append((time.perf_counter() - t0) * 1000.0)
            entry = _percentiles(times)
            if reference is None:
                reference = out.copy()
            entry["ssim_vs_fp32"] = round(ssim(to_image(out), to_image(reference)), 5)
            entry["max_abs_vs_fp32"] = round(float(np.abs(out - reference).max()), 5)
            results[label] = entry
    return results


def _stage_means(stats: PipelineStats) -> dict[str, float]:
    return {name: round(t.mean, 3) for name, t in stats.stages.items()}


def run(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.soak < 0 or args.generator_runs < 1:
        raise InputError("--frames and --generator-runs must be at least 1, --soak at least 0")
    if args.json is not None:
        inputs = [args.target, *([] if camera_index(args.driving) is not None else [args.driving])]
        check_output(args.json, inputs, overwrite=args.overwrite)
    model = args.model or default_model()
    target = read_image(args.target)
    loop = ClipLoop(args.driving)
    report: dict = {"model": model, "driving": str(args.driving), "target": str(args.target), "cpus": os.cpu_count()}
    with loop, Reenactor.create(ReenactConfig(target, model=model, backend=args.backend)) as reenactor:
        note(f"model {model}: warming up")
        run_sequential(lambda: loop, reenactor.track, reenactor.render, max_frames=WARMUP_FRAMES)
        rss_start = rss_mb()
        note(f"pipelined run, {args.frames} frames")
        piped = _pipelined(loop, reenactor, args.frames)
        rss_after = rss_mb()
        note(f"live run (paced like a camera), {args.frames} frames")
        live = _pipelined(loop, reenactor, args.frames, live=True)
        note(f"sequential run, {args.frames} frames")
        loop.paced = False  # the baseline runs flat out, like the pipelined throughput run
        sequential = run_sequential(lambda: loop, reenactor.track, reenactor.render, max_frames=args.frames)
        growth, growth_frames = rss_after - rss_start, args.frames
        if args.soak:
            note(f"soak run, {args.soak} frames")
            trace = [rss_mb()]
            every = max(1, args.soak // 10)

            def sample(result: PipelineResult) -> None:
                if (result.frame_index + 1) % every == 0:
                    trace.append(rss_mb())

            _pipelined(loop, reenactor, args.soak, on_result=sample)
            trace.append(rss_mb())
            growth, growth_frames = trace[-1] - trace[0], args.soak
            report["rss_trace_mb"] = [round(v, 1) for v in trace]
        report["rss_mb"] = round(rss_mb(), 1)
        report["rss_growth_mb"] = round(growth, 2)
        report["rss_growth_frames"] = growth_frames
        report["backend"] = WARP
        report["generator_ms"] = {}
        if model != WARP:
            folder = model_folder(model)
            manifest = load_manifest(folder)
            face = reenactor.target_face
            if is_refiner(manifest):
                gen = RefinerGenerator(folder, args.backend, (target, face))
                probe = gen.inputs(target, face.mesh)
            else:
                gen = NeuralGenerator.open(folder, args.backend)
                crop = align_face(target, face.landmarks68, manifest.image_size)
                probe = probe_inputs(manifest, crop.image, transform_points(face.landmarks68, crop.matrix))
            with gen:
                report["backend"] = gen.backend_label
                report["backend_choice"] = gen.choice.summary()
            note(f"timing the generator on every backend ({args.generator_runs} runs each)")
            report["generator_ms"] = generator_times(folder, probe, args.generator_runs)
    report.update(
        frames=piped.frames_output,
        fps=round(piped.fps_overall, 2),
        latency_ms={"p50": round(live.latency_p50_ms, 2), "p95": round(live.latency_p95_ms, 2)},
        stages_ms=_stage_means(piped),
        no_face_frames=piped.no_face_frames,
        live={
            "source_fps": loop.fps,
            "stages_ms": _stage_means(live),
            "fps": round(live.fps_overall, 2),
            "dropped": live.dropped_total,
            "captured": live.frames_captured,
            "latency_ms": {"p50": round(live.latency_p50_ms, 2), "p95": round(live.latency_p95_ms, 2)},
        },
        latency_ms_blocking={"p50": round(piped.latency_p50_ms, 2), "p95": round(piped.latency_p95_ms, 2)},
        fps_sequential=round(sequential.fps_overall, 2),
        stages_ms_sequential=_stage_means(sequential),
        pipelined_speedup=round(piped.fps_overall / sequential.fps_overall, 3) if sequential.fps_overall else None,
    )
    print_table(report)
    if args.json is not None:
        write_bytes_atomic(args.json, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
        print(args.json)
    return 0


def print_table(r: dict) -> None:
    print(f"model {r['model']} on {r['backend']}, {r['frames']} frames, {r['cpus']} CPUs")
    live = r["live"]
    print(f"  {'pipelined':<14}{r['fps']:>8.1f} fps   (every frame, stages overlapping)")
    print(
        f"  {'live':<14}{live['fps']:>8.1f} fps   camera-paced at {live['source_fps'] or 0:.0f} fps, {live['dropped']} of "
        f"{live['captured']} dropped; latency p50 {r['latency_ms']['p50']:.1f} ms, p95 {r['latency_ms']['p95']:.1f} ms"
    )
    speedup = f"   (pipelined x{r['pipelined_speedup']:.2f})" if r["pipelined_speedup"] else ""
    print(f"  {'sequential':<14}{r['fps_sequential']:>8.1f} fps{speedup}")
    stages = "  ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
    print(f"  {'stages ms':<14}{stages}")
    if r["generator_ms"]:
        print(f"  {'generator':<14}{'p50 ms':>8} {'p95 ms':>8} {'SSIM':>8} {'max-abs':>8}")
        for label, t in r["generator_ms"].items():
            if "error" in t:
                print(f"  {label:<14}unavailable: {t['error']}")
            else:
                print(f"  {label:<14}{t['p50']:>8.2f} {t['p95']:>8.2f} {t['ssim_vs_fp32']:>8.4f} {t['max_abs_vs_fp32']:>8.4f}")
    print(f"  {'memory':<14}RSS {r['rss_mb']:.0f} MB, growth {r['rss_growth_mb']:+.1f} MB over {r['rss_growth_frames']} frames")
    if "rss_trace_mb" in r:
        print(f"  {'RSS trace MB':<14}{' '.join(f'{v:.0f}' for v in r['rss_trace_mb'])}")
