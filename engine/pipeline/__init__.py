"""The live pipeline (plain threads, no Qt): capture, track and render stages keeping only the newest frame."""

from engine.pipeline.live import (
    LatestSlot,
    LivePipeline,
    PipelineOptions,
    PipelineResult,
    State,
    Status,
    run_sequential,
)
from engine.pipeline.stats import PipelineStats, StageTiming

__all__ = [
    "LatestSlot",
    "LivePipeline",
    "PipelineOptions",
    "PipelineResult",
    "PipelineStats",
    "StageTiming",
    "State",
    "Status",
    "run_sequential",
]
