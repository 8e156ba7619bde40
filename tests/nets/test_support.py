"""Support transforms: hand-computed values, exact inverses, round trips."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroplan.nets.support import h, h_inv, scalar_to_support, support_to_scalar

finite = st.floats(-1e5, 1e5, allow_nan=False)


def test_h_by_hand():
    x = torch.tensor([0.0, 3.0, -3.0, 8.0], dtype=torch.float64)
    # h(3) = sqrt(4) - 1 + 0.003 = 1.003; h(8) = sqrt(9) - 1 + 0.008 = 2.008
    torch.testing.assert_close(h(x), torch.tensor([0.0, 1.003, -1.003, 2.008], dtype=torch.float64))


@settings(max_examples=300)
@given(finite)
def test_h_inverse(x):
    t = torch.tensor([x], dtype=torch.float64)
    assert math.isclose(h_inv(h(t)).item(), x, rel_tol=1e-9, abs_tol=1e-9)


def test_two_hot_by_hand():
    # h(3) = 1.003 on support -2..2: mass 0.997 on atom 1, 0.003 on atom 2.
    dist = scalar_to_support(torch.tensor([3.0], dtype=torch.float64), 2)
    torch.testing.assert_close(dist, torch.tensor([[0, 0, 0, 0.997, 0.003]], dtype=torch.float64))
    # Out of range: clipped to the last atom.
    dist = scalar_to_support(torch.tensor([-1e6], dtype=torch.float64), 2)
    torch.testing.assert_close(dist, torch.tensor([[1.0, 0, 0, 0, 0]], dtype=torch.float64))


@settings(max_examples=300)
@given(st.floats(-300, 300, allow_nan=False), st.sampled_from([10, 20, 300]))
def test_round_trip_within_the_support(x, size):
    t = torch.tensor([x], dtype=torch.float64)
    dist = scalar_to_support(t, size)
    assert torch.all(dist >= 0) and math.isclose(dist.sum().item(), 1.0, rel_tol=1e-12)
    assert (dist > 0).sum() <= 2
    back = support_to_scalar(torch.log(dist.clamp_min(1e-300)), size)
    expected = h_inv(h(t).clamp(-size, size)).item()  # clipped when h(x) leaves the support
    assert math.isclose(back.item(), expected, rel_tol=1e-6, abs_tol=1e-6)


def test_float32_precision():
    # Near 0 the value must come back as 0 in float32, and small values closely.
    x = torch.tensor([0.0, 1.0, 100.0], dtype=torch.float32)
    back = h_inv(h(x))
    assert back[0].item() == 0.0
    torch.testing.assert_close(back, x, rtol=2e-6, atol=2e-6)
