"""The gradient reversal layer: identity forward, gradient times -lambda backward (Ganin et al. 2016)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.layers import GradientReversal, reverse_gradient


def _grad(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).backward()
    return x.grad


@pytest.mark.parametrize("scale", [1.0, 0.3, 2.5, 0.0])
def test_flips_and_scales_the_gradient(scale: float) -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 7, dtype=torch.float64)
    w = torch.randn(5, 7, dtype=torch.float64)
    layer = GradientReversal(scale)

    def loss(t: torch.Tensor) -> torch.Tensor:
        return (w * torch.sin(t)).sum()

    plain = _grad(loss, x)
    reversed_ = _grad(lambda t: loss(layer(t)), x)
    torch.testing.assert_close(reversed_, -scale * plain)
    # The plain gradient itself agrees with central finite differences.
    eps = 1e-6
    probe = torch.zeros_like(x)
    probe[2, 3] = eps
    numeric = (loss(x + probe) - loss(x - probe)) / (2 * eps)
    assert abs(float(numeric) - float(plain[2, 3])) < 1e-6


def test_forward_is_the_identity() -> None:
    x = torch.randn(3, 30)
    assert torch.equal(GradientReversal(0.7)(x), x)
    assert torch.equal(reverse_gradient(x, 0.7), x)


def test_min_max_in_one_backward() -> None:
    """In front of a critic, one backward pass sends the critic the plain gradient and the encoder the
    reversed one: the encoder's update then raises the critic's loss."""
    torch.manual_seed(0)
    encoder, critic = nn.Linear(4, 3), nn.Linear(3, 1)
    x, target = torch.randn(8, 4), torch.ones(8, 1)

    def critic_loss() -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(critic(GradientReversal(1.0)(encoder(x))), target)

    critic_loss().backward()
    reversed_grads = [p.grad.clone() for p in encoder.parameters()]
    critic_grads = [p.grad.clone() for p in critic.parameters()]
    encoder.zero_grad()
    critic.zero_grad()
    nn.functional.binary_cross_entropy_with_logits(critic(encoder(x)), target).backward()
    for got, plain in zip(reversed_grads, [p.grad for p in encoder.parameters()]):
        torch.testing.assert_close(got, -plain)
    for got, plain in zip(critic_grads, [p.grad for p in critic.parameters()]):
        torch.testing.assert_close(got, plain)

    before = critic_loss().item()
    with torch.no_grad():
        for p, g in zip(encoder.parameters(), reversed_grads):
            p -= 0.1 * g
    assert critic_loss().item() > before


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        GradientReversal(-1.0)
