"""Geometry: alignment, conditions for the generators, the shape model, expressions, retargeting."""
