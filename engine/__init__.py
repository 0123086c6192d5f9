"""FES engine: face tracking, geometry, synthesis, backends and the live pipeline (no Qt)."""

__version__ = "0.1.0"
