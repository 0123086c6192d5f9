"""engine.pipeline: newest-frame dropping, camera loss, no face, generator fallback, statistics.

Stages are synthetic callables; gates (threading.Event) make the drop scenarios deterministic, so
the assertions are on counts and frame order, never on wall-clock thresholds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from engine.errors import CameraError, ModelError, OutputError
from engine.pipeline import LatestSlot, LivePipeline, PipelineOptions, PipelineResult, State, Status, run_sequential
from engine.pipeline.stats import StatsRecorder

TIMEOUT = 30.0


@dataclass(frozen=True)
class FakeFrame:
    image: np.ndarray
    timestamp_ms: float
    index: int


class ListSource:
    """``count`` tiny frames whose pixels hold their index; ``fail_at`` raises CameraError there."""

    def __init__(self, count: int | None, fail_at: int | None = None, start: int = 0) -> None:
        self.count = count
        self.fail_at = fail_at
        self.next = start
        self.exhausted = threading.Event()
        self.closed = False

    def read(self) -> FakeFrame | None:
        if self.fail_at is not None and self.next == self.fail_at:
            raise CameraError("camera unplugged")
        if self.count is not None and self.next >= self.count:
            self.exhausted.set()
            return None
        i = self.next
        self.next += 1
        return FakeFrame(np.full((4, 4, 3), i % 256, dtype=np.uint8), i * 33.3, i)

    def close(self) -> None:
        self.closed = True


def track_index(image: np.ndarray, timestamp_ms: float) -> int:
    return int(image[0, 0, 0])


def render_index(index: int) -> np.ndarray:
    return np.full((8, 8, 3), index, dtype=np.uint8)


class Collector:
    def __init__(self) -> None:
        self.results: list[PipelineResult] = []
        self.statuses: list[Status] = []

    def result(self, r: PipelineResult) -> None:
        self.results.append(r)

    def status(self, s: Status) -> None:
        self.statuses.append(s)

    @property
    def indices(self) -> list[int]:
        return [r.frame_index for r in self.results]

    @property
    def states(self) -> list[State]:
        return [s.state for s in self.statuses]


def run(pipeline: LivePipeline) -> None:
    pipeline.start()
    assert pipeline.wait(TIMEOUT), "pipeline did not finish"


def test_latest_slot_keeps_only_the_newest() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.take() == 2
    slot.put(3)
    slot.close()
    assert slot.take() == 3
    assert slot.take() is None
    assert slot.put(4) is False and slot.take() is None


def test_slow_render_drops_frames_instead_of_queueing() -> None:
    source = ListSource(60)
    first_render = threading.Event()

    def slow_render(index: int) -> np.ndarray:
        if not first_render.is_set():
            first_render.set()
            source.exhausted.wait(TIMEOUT)  # hold the render stage until every frame was captured
        return render_index(index)

    out = Collector()
    pipeline = LivePipeline.create(lambda: source, track_index, slow_render, on_result=out.result)
    run(pipeline)
    stats = pipeline.stats()
    assert stats.frames_captured == 60
    assert stats.frames_output == len(out.results) < 5
    assert stats.frames_captured == stats.frames_tracked + stats.dropped["track"]
    assert stats.frames_tracked == stats.frames_output + stats.dropped["render"]
    assert stats.dropped_total == 60 - stats.frames_output
    assert out.indices == sorted(out.indices)
    assert out.indices[-1] == 59, "the newest frame is the one that gets through"
    assert [r.image[0, 0, 0] for r in out.results] == out.indices
    assert pipeline.status.state == State.FINISHED


def test_blocking_mode_processes_every_frame_in_order() -> None:
    out = Collector()
    pipeline = LivePipeline.create(
        lambda: ListSource(40), track_index, render_index, PipelineOptions(blocking=True), on_result=out.result
    )
    run(pipeline)
    stats = pipeline.stats()
    assert out.indices == list(range(40))
    assert stats.dropped_total == 0 and stats.frames_output == 40
    assert {"capture", "track", "render", "output"} <= set(stats.stages)
    assert stats.latency_p95_ms >= stats.latency_p50_ms > 0
    assert stats.fps_overall > 0


def test_max_frames_stops_an_endless_source() -> None:
    source = ListSource(None)
    pipeline = LivePipeline.create(lambda: source, track_index, render_index, PipelineOptions(blocking=True, max_frames=25))
    run(pipeline)
    assert pipeline.stats().frames_output == 25 and source.closed


def test_stop_ends_a_live_run_promptly() -> None:
    out = Collector()
    pipeline = LivePipeline.create(lambda: ListSource(None), track_index, render_index, on_result=out.result)
    with pipeline:
        pipeline.start()
        while len(out.results) < 10:
            threading.Event().wait(0.001)
    assert not pipeline.running
    assert pipeline.status.state == State.STOPPED


def test_a_source_that_keeps_failing_is_retried_then_reported() -> None:
    opened: list[ListSource] = []

    def open_source() -> ListSource:
        if opened:
            opened.append(None)  # type: ignore[arg-type]
            raise CameraError("camera 0 is not available")
        opened.append(ListSource(None, fail_at=5))
        return opened[0]

    out = Collector()
    options = PipelineOptions(blocking=True, max_camera_failures=4, retry_delay_s=0.001, retry_delay_max_s=0.002)
    pipeline = LivePipeline.create(open_source, track_index, render_index, options, on_result=out.result, on_status=out.status)
    run(pipeline)
    assert out.indices == [0, 1, 2, 3, 4]
    assert len(opened) == 4, "one open, then a reopen attempt after each of the first three failures"
    assert out.states.count(State.CAMERA_RETRYING) == 3
    assert out.states[-1] == State.CAMERA_FAILED
    assert isinstance(pipeline.error, CameraError) and "4 times" in str(pipeline.error)
    assert pipeline.stats().camera_failures == 4
    assert opened[0].closed


def test_a_source_that_comes_back_resumes() -> None:
    sources = [ListSource(None, fail_at=3), ListSource(8, start=3)]
    out = Collector()
    options = PipelineOptions(blocking=True, retry_delay_s=0.001)
    pipeline = LivePipeline.create(lambda: sources.pop(0), track_index, render_index, options, on_result=out.result, on_status=out.status)
    run(pipeline)
    assert out.indices == list(range(8))
    assert State.CAMERA_RETRYING in out.states
    assert out.statuses[out.states.index(State.CAMERA_RETRYING) + 1] == Status(State.RUNNING, "source back")
    assert pipeline.error is None and pipeline.stats().camera_failures == 1


def test_no_face_holds_the_last_output_with_a_status() -> None:
    def track(image: np.ndarray, timestamp_ms: float) -> int | None:
        i = track_index(image, timestamp_ms)
        return None if 3 <= i <= 5 else i

    initial = np.zeros((8, 8, 3), dtype=np.uint8)
    out = Collector()
    pipeline = LivePipeline.create(
        lambda: ListSource(8),
        track,
        render_index,
        PipelineOptions(blocking=True),
        on_result=out.result,
        on_status=out.status,
        initial_image=initial,
    )
    run(pipeline)
    held = [r for r in out.results if r.held]
    assert [r.frame_index for r in held] == [3, 4, 5]
    assert all(r.image is out.results[2].image for r in held), "frames without a face repeat the last good output"
    assert all(r.status.state == State.NO_FACE for r in held)
    assert out.results[6].image[0, 0, 0] == 6 and not out.results[6].held
    assert State.NO_FACE in out.states and out.states[out.states.index(State.NO_FACE) + 1] == State.RUNNING
    assert pipeline.stats().no_face_frames == 3


def test_no_face_before_any_output_shows_the_initial_image() -> None:
    initial = np.full((8, 8, 3), 200, dtype=np.uint8)
    out = Collector()
    pipeline = LivePipeline.create(
        lambda: ListSource(2), lambda image, ts: None, render_index, PipelineOptions(blocking=True),
        on_result=out.result, initial_image=initial,
    )
    run(pipeline)
    assert all(r.image is initial and r.held for r in out.results)


def test_a_failing_generator_falls_back_to_the_warp_and_keeps_running() -> None:
    calls = {"render": 0}

    def corrupt_model_render(index: int) -> np.ndarray:
        calls["render"] += 1
        raise ModelError("model.onnx: not a loadable ONNX model")

    def warp(index: int) -> np.ndarray:
        return np.full((8, 8, 3), 100 + index, dtype=np.uint8)

    out = Collector()
    pipeline = LivePipeline.create(
        lambda: ListSource(10), track_index, corrupt_model_render, PipelineOptions(blocking=True),
        fallback_render=warp, on_result=out.result, on_status=out.status,
    )
    run(pipeline)
    assert calls["render"] == 1, "after the first failure the generator is not retried per frame"
    assert out.indices == list(range(10))
    assert all(r.fallback and not r.held for r in out.results)
    assert [int(r.image[0, 0, 0]) for r in out.results] == [100 + i for i in range(10)]
    fallback = [s for s in out.statuses if s.state == State.FALLBACK]
    assert len(fallback) == 1 and "not a loadable ONNX model" in fallback[0].message
    assert pipeline.stats().fallback_frames == 10


def test_when_every_renderer_fails_the_last_output_is_held() -> None:
    def flaky(index: int) -> np.ndarray:
        if index >= 2:
            raise RuntimeError("backend lost")
        return render_index(index)

    out = Collector()
    pipeline = LivePipeline.create(
        lambda: ListSource(5), track_index, flaky, PipelineOptions(blocking=True), on_result=out.result, on_status=out.status
    )
    run(pipeline)
    assert [r.held for r in out.results] == [False, False, True, True, True]
    assert out.results[4].image is out.results[1].image
    assert State.RENDER_ERROR in out.states


def test_run_sequential_counts_every_frame() -> None:
    images: list[np.ndarray | None] = []
    stats = run_sequential(lambda: ListSource(12), track_index, render_index, max_frames=10, on_result=images.append)
    assert stats.frames_output == 10 == len(images) and stats.dropped_total == 0
    assert stats.stages["render"].count == 10


def test_stats_recorder_snapshot_is_consistent_under_threads() -> None:
    recorder = StatsRecorder(window=64)

    def writer() -> None:
        for i in range(2000):
            recorder.stage("render", float(i % 10))
            recorder.output(5.0, float(i))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    snapshots = [recorder.snapshot() for _ in range(50)]
    for t in threads:
        t.join()
    final = recorder.snapshot()
    assert final.frames_output == 8000 and final.stages["render"].count == 8000
    assert all(s.latency_p50_ms in (0.0, 5.0) for s in snapshots)


def test_virtual_camera_without_pyvirtualcam_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from engine.pipeline import virtualcam

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    assert not virtualcam.available()
    with pytest.raises(OutputError, match="pip install"):
        virtualcam.VirtualCamera.create()

