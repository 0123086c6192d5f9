"""Live pipeline statistics: per-stage milliseconds, frames per second, latency, dropped frames.

:class:`StatsRecorder` is written by the pipeline's threads (one lock, fixed-size ring buffers, no
allocation per frame); :meth:`StatsRecorder.snapshot` returns an immutable :class:`PipelineStats`
that the UI or the bench reads at any time from any thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

STAGES = ("capture", "track", "render", "output")


@dataclass(frozen=True)
class StageTiming:
    """Milliseconds one stage took per frame over the recent window."""

    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    count: int = 0


@dataclass(frozen=True)
class PipelineStats:
    """A consistent snapshot of a running or finished pipeline.

    frames_captured / frames_tracked / frames_output: totals since start.
    dropped: frames replaced before a stage took them, by the stage that missed them
        ("track": captured but never tracked; "render": tracked but never rendered).
    stages: per-stage timing over the recent window (capture = source read, which for a camera
        includes waiting for its next frame; output = the on_result callback).
    fps: outputs per second over the recent window; fps_overall: over the whole run.
    latency_p50_ms / latency_p95_ms: capture-to-output latency over the recent window.
    no_face_frames: outputs that held the last good image because no face was tracked.
    fallback_frames: outputs rendered by the fallback renderer.
    camera_failures: source read/open failures (retried) since start.
    """

    frames_captured: int = 0
    frames_tracked: int = 0
    frames_output: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    stages: dict[str, StageTiming] = field(default_factory=dict)
    fps: float = 0.0
    fps_overall: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    no_face_frames: int = 0
    fallback_frames: int = 0
    camera_failures: int = 0
    elapsed_s: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class _Ring:
    """Last ``size`` float samples in a preallocated array."""

    def __init__(self, size: int) -> None:
        self.values = np.zeros(size, dtype=np.float64)
        self.count = 0

    def add(self, value: float) -> None:
        self.values[self.count % len(self.values)] = value
        self.count += 1

    def recent(self) -> np.ndarray:
        return self.values[: min(self.count, len(self.values))]


class StatsRecorder:
    """Thread-safe accumulator behind :class:`PipelineStats`; ``window`` samples per ring."""

    def __init__(self, window: int = 512) -> None:
        self._lock = threading.Lock()
        self._window = window
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._stages = {name: _Ring(self._window) for name in STAGES}
            self._latency = _Ring(self._window)
            self._output_times = _Ring(self._window)
            self._counts = {"captured": 0, "tracked": 0, "output": 0, "no_face": 0, "fallback": 0, "camera_failures": 0}
            self._dropped = {"track": 0, "render": 0}
            self._start = time.perf_counter()
            self._end: float | None = None

    def finish(self) -> None:
        """Freeze ``elapsed_s`` and ``fps_overall`` at the end of a run."""
        with self._lock:
            self._end = time.perf_counter()

    def stage(self, name: str, ms: float) -> None:
        with self._lock:
            self._stages[name].add(ms)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def drop(self, stage: str) -> None:
        with self._lock:
            self._dropped[stage] += 1

    def output(self, latency_ms: float, now: float) -> None:
        with self._lock:
            self._counts["output"] += 1
            self._latency.add(latency_ms)
            self._output_times.add(now)

    def snapshot(self) -> PipelineStats:
        with self._lock:
            elapsed = (self._end if self._end is not None else time.perf_counter()) - self._start
            stages = {}
            for name, ring in self._stages.items():
                values = ring.recent()
                if len(values):
                    p50, p95 = np.percentile(values, [50, 95])
                    stages[name] = StageTiming(float(values.mean()), float(p50), float(p95), ring.count)
            latency = self._latency.recent()
            p50, p95 = (float(v) for v in np.percentile(latency, [50, 95])) if len(latency) else (0.0, 0.0)
            times = np.sort(self._output_times.recent())
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            c = self._counts
            return PipelineStats(
                frames_captured=c["captured"],
                frames_tracked=c["tracked"],
                frames_output=c["output"],
                dropped=dict(self._dropped),
                stages=stages,
                fps=float(fps),
                fps_overall=c["output"] / elapsed if elapsed > 0 else 0.0,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                no_face_frames=c["no_face"],
                fallback_frames=c["fallback"],
                camera_failures=c["camera_failures"],
                elapsed_s=elapsed,
            )
