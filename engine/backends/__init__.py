"""Inference backends (ONNX Runtime, PyTorch, TensorRT) behind one interface, and their selection."""

from engine.backends.base import (
    PRECISIONS,
    Backend,
    available_backends,
    backend_names,
    candidates,
    describe_backends,
    get_backend,
    register_backend,
)

__all__ = [
    "PRECISIONS",
    "Backend",
    "available_backends",
    "backend_names",
    "candidates",
    "describe_backends",
    "get_backend",
    "register_backend",
]
