"""Shipped data: models with manifests, sample photos with attribution, expression templates."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
MODELS = ROOT / "models"
EXPRESSIONS = ROOT / "expressions"
