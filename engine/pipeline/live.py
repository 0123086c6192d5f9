"""The live pipeline: capture -> track -> render -> output, one thread per stage, newest frame only.

::

    pipeline = LivePipeline.create(
        lambda: open_source(0), reenactor.track, reenactor.render,
        fallback_render=warp_reenactor.render, on_result=show,
    )
    with pipeline:
        pipeline.start()
        ...
        print(pipeline.stats().fps)

Live contract (frame dropping): between stages sits a one-slot holder (:class:`LatestSlot`).
A stage that finishes hands its frame on, replacing a frame the next stage has not taken yet;
the replaced frame is dropped and counted in ``PipelineStats.dropped``. So queues never grow,
latency stays bounded by the slowest stage, and a slow stage costs frame rate, not delay. While
the render stage works on frame n the track stage already tracks frame n+1, timed to finish as
the render stage gets free, so frame n+1 is the newest that can be rendered then.
With ``PipelineOptions(blocking=True)`` (offline rendering, the bench) a stage waits for the next
one to take its frame instead: every frame is processed, none is dropped, stages still overlap.

Failures never end the process:
    * a source that raises on read or open is closed, reopened with exponential back-off and a
      ``CAMERA_RETRYING`` status; after ``max_camera_failures`` failures in a row the pipeline
      reports ``CAMERA_FAILED`` (``pipeline.error`` holds a CameraError) and stops;
    * no face tracked: the last good output is sent again (``held=True``) with a ``NO_FACE`` status;
    * the render stage raises (e.g. a corrupt model): the pipeline switches to ``fallback_render``
      (the mesh warp) for the rest of the run with a ``FALLBACK`` status.

Callbacks (``on_result``, ``on_status``) run on the pipeline's threads; a GUI must hand them over
to its own thread (``fes_desktop`` uses queued signals) and keep them short.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Generic, Protocol, TypeVar

import numpy as np

from engine.errors import CameraError
from engine.pipeline.stats import PipelineStats, StatsRecorder

log = logging.getLogger(__name__)

PACE_MARGIN_MS = 2.0  # the next track starts this much (or PACE_MARGIN of a render) early
PACE_MARGIN = 0.1

T = TypeVar("T")
Tracked = TypeVar("Tracked")


class Frame(Protocol):
    """What a source yields (engine.io.sources.Frame): image (H, W, 3) uint8 BGR, timestamp, index."""

    image: np.ndarray
    timestamp_ms: float
    index: int


class FrameSource(Protocol):
    """A camera, video or image sequence: ``read()`` returns the next frame, None at the end."""

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class State(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    NO_FACE = "no_face"
    CAMERA_RETRYING = "camera_retrying"
    CAMERA_FAILED = "camera_failed"
    FALLBACK = "fallback"
    RENDER_ERROR = "render_error"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Status:
    state: State
    message: str = ""


@dataclass(frozen=True)
class PipelineOptions:
    """blocking: wait instead of dropping (offline rendering, benchmarks); False for a camera.

    max_frames: stop after capturing this many frames (None: until the source ends or stop()).
    max_camera_failures: failures in a row after which CAMERA_FAILED is reported and the run ends.
    retry_delay_s, retry_delay_max_s: back-off before the first reopen, doubling up to the maximum.
    stats_window: samples kept for the recent-window statistics.
    """

    blocking: bool = False
    max_frames: int | None = None
    max_camera_failures: int = 5
    retry_delay_s: float = 0.25
    retry_delay_max_s: float = 2.0
    stats_window: int = 512


@dataclass(frozen=True)
class PipelineResult:
    """One output frame.

    image: (H, W, 3) uint8 BGR, the rendered frame; the previous good one when ``held``; the
        ``initial_image`` (possibly None) before the first good one. Treat as read-only.
    frame_index, timestamp_ms: of the captured frame this output answers.
    latency_ms: capture (source read returned) to this result being handed to ``on_result``.
    held: no new image (no face, or the renderers failed). fallback: made by ``fallback_render``.
    """

    image: np.ndarray | None
    frame_index: int
    timestamp_ms: float
    latency_ms: float
    held: bool
    fallback: bool
    status: Status


class LatestSlot(Generic[T]):
    """A one-item holder between two threads: ``put`` replaces an untaken item (and says so).

    put(wait=True) instead waits until the item was taken. close() wakes every waiter; ``take``
    then returns what is left and None afterwards, or None at once after ``close(discard=True)``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False

    def put(self, item: T, wait: bool = False) -> bool:
        """Store ``item``; True when an untaken item was replaced (dropped). Ignored once closed."""
        with self._cond:
            while wait and self._full and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            dropped = self._full
            self._item, self._full = item, True
            self._cond.notify_all()
            return dropped

    def wait_empty(self) -> None:
        """Wait until the item was taken (or the slot closed)."""
        with self._cond:
            while self._full and not self._closed:
                self._cond.wait()

    def take(self) -> T | None:
        """The item, waiting for one; None once closed and empty."""
        with self._cond:
            while not self._full:
                if self._closed:
                    return None
                self._cond.wait()
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self, discard: bool = False) -> None:
        with self._cond:
            self._closed = True
            if discard:
                self._item, self._full = None, False
            self._cond.notify_all()


@dataclass
class _Captured:
    frame: Frame
    captured_at: float  # time.perf_counter() when the read returned


@dataclass
class _TrackedFrame(Generic[Tracked]):
    captured: _Captured
    track: Tracked | None


class LivePipeline(Generic[Tracked]):
    """Three threads around two one-slot holders; see the module docstring for the contract.

    Use :meth:`create`, then :meth:`start`; :meth:`stats` and :attr:`status` may be read from any
    thread; :meth:`wait` returns when the source ended or the run failed; :meth:`close` (or the
    context manager) stops the threads and closes the source.
    """

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        track: Callable[[np.ndarray, float], Tracked | None],
        render: Callable[[Tracked], np.ndarray],
        options: PipelineOptions,
        fallback_render: Callable[[Tracked], np.ndarray] | None,
        on_result: Callable[[PipelineResult], None] | None,
        on_status: Callable[[Status], None] | None,
        initial_image: np.ndarray | None,
    ) -> None:
        self._open_source = open_source
        self._track = track
        self._render = render
        self._fallback_render = fallback_render
        self._on_result = on_result
        self._on_status = on_status
        self.options = options
        self._recorder = StatsRecorder(options.stats_window)
        self._captured: LatestSlot[_Captured] = LatestSlot()
        self._tracked: LatestSlot[_TrackedFrame[Tracked]] = LatestSlot()
        self._stop = threading.Event()
        self._status_lock = threading.Lock()
        self._status = Status(State.IDLE)
        self._last_image = initial_image
        self._use_fallback = False
        self._finish_message = ""  # set by the capture stage when the source ended normally
        self._track_ms = 0.0  # moving averages for pacing the tracker (live mode)
        self._render_ms = 0.0
        self._threads: list[threading.Thread] = []
        self.error: Exception | None = None

    @classmethod
    def create(
        cls,
        open_source: Callable[[], FrameSource],
        track: Callable[[np.ndarray, float], Tracked | None],
        render: Callable[[Tracked], np.ndarray],
        options: PipelineOptions = PipelineOptions(),
        *,
        fallback_render: Callable[[Tracked], np.ndarray] | None = None,
        on_result: Callable[[PipelineResult], None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        initial_image: np.ndarray | None = None,
    ) -> "LivePipeline[Tracked]":
        """Build a pipeline (not started).

        open_source: opens the source; called again to reopen it after a failure.
        track(frame (H, W, 3) uint8 BGR, timestamp_ms) -> tracking result, or None for no face.
        render(tracking result) -> (H, W, 3) uint8 BGR output frame.
        fallback_render: used for the rest of the run once ``render`` raises.
        initial_image: shown (held) until the first good output, e.g. the target photo.
        """
        return cls(open_source, track, render, options, fallback_render, on_result, on_status, initial_image)

    @property
    def status(self) -> Status:
        with self._status_lock:
            return self._status

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stats(self) -> PipelineStats:
        return self._recorder.snapshot()

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._set_status(State.RUNNING)
        self._threads = [
            threading.Thread(target=self._capture_loop, name="fes-capture", daemon=True),
            threading.Thread(target=self._track_loop, name="fes-track", daemon=True),
            threading.Thread(target=self._render_loop, name="fes-render", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every stage has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capturing, drop frames in flight, join the threads."""
        self._stop.set()
        self._captured.close(discard=True)
        self._tracked.close(discard=True)
        self.wait(timeout)
        if self.status.state not in (State.CAMERA_FAILED, State.FINISHED):
            self._set_status(State.STOPPED)

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> "LivePipeline[Tracked]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_status(self, state: State, message: str = "") -> None:
        with self._status_lock:
            if self._status.state == state and self._status.message == message:
                return
            self._status = Status(state, message)
            status = self._status
        if message:
            log.info("pipeline %s: %s", state.value, message)
        if self._on_status is not None:
            self._on_status(status)

    def _capture_loop(self) -> None:
        source: FrameSource | None = None
        failures = 0
        captured = 0
        limit = self.options.max_frames
        try:
            while not self._stop.is_set() and (limit is None or captured < limit):
                if self.options.blocking:
                    self._captured.wait_empty()  # read only when the tracker can take it: no stale frame waits
                try:
                    if source is None:
                        source = self._open_source()
                    t0 = time.perf_counter()
                    frame = source.read()
                except Exception as exc:  # any camera/decoder error: retry, never crash the app
                    failures += 1
                    self._recorder.count("camera_failures")
                    if source is not None:
                        _close_quietly(source)
                        source = None
                    if not self._retry(exc, failures):
                        return
                    continue
                if frame is None:
                    self._finish_message = "end of the source"
                    return
                now = time.perf_counter()
                if failures:
                    failures = 0
                    self._set_status(State.RUNNING, "source back")
                captured += 1
                self._recorder.stage("capture", (now - t0) * 1000.0)
                self._recorder.count("captured")
                if self._captured.put(_Captured(frame, now), wait=self.options.blocking):
                    self._recorder.drop("track")
            if limit is not None and captured >= limit:
                self._finish_message = f"{captured} frames"
        finally:
            if source is not None:
                _close_quietly(source)
            self._captured.close()

    def _retry(self, exc: Exception, failures: int) -> bool:
        """Status and back-off after a source failure; False when the run must end."""
        opts = self.options
        if failures >= opts.max_camera_failures:
            self.error = CameraError(f"the source failed {failures} times in a row; last error: {exc}")
            self._set_status(State.CAMERA_FAILED, str(self.error))
            return False
        delay = min(opts.retry_delay_s * 2 ** (failures - 1), opts.retry_delay_max_s)
        self._set_status(
            State.CAMERA_RETRYING, f"source lost ({exc}); retry {failures}/{opts.max_camera_failures - 1} in {delay:.2f} s"
        )
        return not self._stop.wait(delay)

    def _track_loop(self) -> None:
        try:
            while (item := self._captured.take()) is not None:
                t0 = time.perf_counter()
                try:
                    result = self._track(item.frame.image, item.frame.timestamp_ms)
                except Exception:  # a tracker bug on one frame must not end the stream
                    log.exception("tracking frame %d failed; treated as no face", item.frame.index)
                    result = None
                track_ms = (time.perf_counter() - t0) * 1000.0
                self._track_ms = _ema(self._track_ms, track_ms)
                self._recorder.stage("track", track_ms)
                self._recorder.count("tracked")
                if self._tracked.put(_TrackedFrame(item, result), wait=self.options.blocking):
                    self._recorder.drop("render")
                if not self.options.blocking:
                    self._pace_tracking()
        finally:
            self._tracked.close()

    def _pace_tracking(self) -> None:
        """Start the next track so that it ends about when the render stage gets free.

        Waits until the render stage took the frame just tracked, then for the part of the render
        time the next track does not need. The next frame is thus the newest one that can still be
        rendered in time: latency is about track + render, and no CPU goes to tracking frames that
        would only be dropped (on a small CPU the render stage needs that core).
        """
        self._tracked.wait_empty()
        lead_ms = self._render_ms - self._track_ms - max(PACE_MARGIN_MS, PACE_MARGIN * self._render_ms)
        if lead_ms > 0:
            self._stop.wait(lead_ms / 1000.0)

    def _render_loop(self) -> None:
        try:
            while (item := self._tracked.take()) is not None:
                self._render_one(item)
        finally:
            self._recorder.finish()
            if self._finish_message and not self._stop.is_set():
                self._set_status(State.FINISHED, self._finish_message)

    def _render_one(self, item: _TrackedFrame[Tracked]) -> None:
        t0 = time.perf_counter()
        image, fallback = None, False
        if item.track is None:
            self._recorder.count("no_face")
            self._set_status(State.NO_FACE, "no face: holding the last output")
        else:
            image, fallback = self._render_track(item.track)
            self._render_ms = _ema(self._render_ms, (time.perf_counter() - t0) * 1000.0)
        held = image is None
        if held:
            image = self._last_image
        else:
            self._last_image = image
            if self.status.state == State.NO_FACE:
                self._set_status(State.FALLBACK if self._use_fallback else State.RUNNING)
        now = time.perf_counter()
        self._recorder.stage("render", (now - t0) * 1000.0)
        frame = item.captured.frame
        latency = (now - item.captured.captured_at) * 1000.0
        self._recorder.output(latency, now)
        if self._on_result is not None:
            self._on_result(PipelineResult(image, frame.index, frame.timestamp_ms, latency, held, fallback, self.status))
            self._recorder.stage("output", (time.perf_counter() - now) * 1000.0)

    def _render_track(self, track: Tracked) -> tuple[np.ndarray | None, bool]:
        if not self._use_fallback:
            try:
                return self._render(track), False
            except Exception as exc:  # a corrupt model or backend failure: switch to the fallback
                if self._fallback_render is None:
                    log.exception("render failed")
                    self._set_status(State.RENDER_ERROR, f"render failed: {exc}")
                    return None, False
                log.exception("render failed; switching to the fallback renderer")
                self._use_fallback = True
                self._set_status(State.FALLBACK, f"generator failed ({exc}); using the fallback renderer")
        try:
            image = self._fallback_render(track)  # type: ignore[misc]
        except Exception as exc:  # both renderers failed: hold the last output, keep running
            log.exception("fallback render failed")
            self._set_status(State.RENDER_ERROR, f"fallback render failed: {exc}")
            return None, True
        self._recorder.count("fallback")
        return image, True


def _ema(average: float, sample: float, alpha: float = 0.2) -> float:
    return sample if average == 0.0 else average + alpha * (sample - average)


def _close_quietly(source: FrameSource) -> None:
    try:
        source.close()
    except Exception:  # closing a broken camera may raise again; it is being dropped anyway
        log.debug("closing the source failed", exc_info=True)


def run_sequential(
    open_source: Callable[[], FrameSource],
    track: Callable[[np.ndarray, float], Tracked | None],
    render: Callable[[Tracked], np.ndarray],
    max_frames: int | None = None,
    on_result: Callable[[np.ndarray | None], None] | None = None,
) -> PipelineStats:
    """Read, track and render each frame in turn on the calling thread (the baseline the
    pipelined run is compared with). No frame is dropped; a frame without a face renders nothing."""
    recorder = StatsRecorder()
    source = open_source()
    try:
        count = 0
        while max_frames is None or count < max_frames:
            t0 = time.perf_counter()
            frame = source.read()
            if frame is None:
                break
            t1 = time.perf_counter()
            recorder.stage("capture", (t1 - t0) * 1000.0)
            recorder.count("captured")
            result = track(frame.image, frame.timestamp_ms)
            t2 = time.perf_counter()
            recorder.stage("track", (t2 - t1) * 1000.0)
            recorder.count("tracked")
            image = render(result) if result is not None else None
            if result is None:
                recorder.count("no_face")
            t3 = time.perf_counter()
            recorder.stage("render", (t3 - t2) * 1000.0)
            recorder.output((t3 - t1) * 1000.0, t3)
            if on_result is not None:
                on_result(image)
            count += 1
    finally:
        source.close()
        recorder.finish()
    return recorder.snapshot()
