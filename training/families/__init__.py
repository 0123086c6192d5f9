"""The five trainable families; importing this package registers each with training.base."""

from training.families import g2gan, landmarkgan, lgan, tergan, unet_cgan, warpguided  # noqa: F401
