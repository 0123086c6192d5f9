"""Layers that only training uses.

:class:`GradientReversal` is the gradient reversal layer of Ganin et al. (JMLR 2016, "Domain-adversarial
training of neural networks"), which TER-GAN (paper 4, section 3.1.4) places between each encoder's
code and its consistency discriminator: the forward pass is the identity, the backward pass multiplies
the incoming gradient by ``-lambda``. One backward pass then trains the discriminator to minimise its
loss and the encoder in front of it to maximise that same loss.
"""

from __future__ import annotations

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward returns ``-scale * grad``. ``scale`` gets no gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.scale, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``x`` unchanged in the forward pass; its gradient is multiplied by ``-scale`` on the way back."""
    return _ReverseGradient.apply(x, scale)


class GradientReversal(nn.Module):
    """Gradient reversal layer with weight ``scale`` (Ganin's lambda; >= 0).

    x: any shape -> the same tensor. Has no parameters; ``scale`` may be changed between steps
    (Ganin et al. ramp it from 0 to 1) by assigning the attribute.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        if scale < 0:
            raise ValueError(f"gradient reversal scale must be >= 0, got {scale}")
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
