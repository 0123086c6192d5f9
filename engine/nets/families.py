"""Imports every built-in family module so that each registers itself."""

from engine.nets import g2gan, landmarkgan, lgan, tergan, unet_cgan, warpguided  # noqa: F401
