"""Scalars on a categorical support, with MuZero's invertible value scaling.

Values and rewards are predicted as distributions over integers -S..S of the
scaled quantity h(x) (Schrittwieser et al. 2020, appendix F; Pohlen et al.
2018). h squashes large returns so one support size fits many reward scales,
and the cross-entropy against a two-hot target trains better than a squared
error on raw returns.
"""

from __future__ import annotations

import torch

EPS = 1e-3


def h(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1) - 1) + eps * x


def h_inv(y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The exact inverse of h: solve the quadratic in sqrt(|x| + 1) for |x|.

    The textbook root (sqrt(1 + 4 eps c) - 1) / (2 eps) cancels badly in
    float32; multiplying through by its conjugate gives the same root, stably.
    """
    c = torch.abs(y) + 1 + eps
    root = 2 * c / (torch.sqrt(1 + 4 * eps * c) + 1)
    return torch.sign(y) * (root * root - 1)


def scalar_to_support(x: torch.Tensor, support_size: int) -> torch.Tensor:
    """[...] scalars -> [..., 2S+1] two-hot distributions over -S..S of h(x).

    h(x) is clipped to the support; its mass is split between the two nearest
    integers so that the distribution's mean is exactly h(x).
    """
    y = h(x).clamp(-support_size, support_size)
    # A NaN target gives a NaN distribution (so the loss is NaN and the update
    # is skipped) instead of an out-of-range index.
    low = torch.floor(torch.nan_to_num(y, nan=0.0))
    upper_weight = y - low
    low_index = (low + support_size).long()
    high_index = torch.clamp(low_index + 1, max=2 * support_size)
    out = torch.zeros(*x.shape, 2 * support_size + 1, dtype=x.dtype, device=x.device)
    out.scatter_add_(-1, low_index.unsqueeze(-1), (1 - upper_weight).unsqueeze(-1))
    out.scatter_add_(-1, high_index.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return out


def support_to_scalar(logits: torch.Tensor, support_size: int) -> torch.Tensor:
    """[..., 2S+1] logits -> [...] scalars: h_inv of the distribution's mean."""
    probs = torch.softmax(logits, dim=-1)
    atoms = torch.arange(-support_size, support_size + 1, dtype=probs.dtype, device=probs.device)
    return h_inv((probs * atoms).sum(-1))
