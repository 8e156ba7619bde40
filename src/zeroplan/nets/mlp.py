"""MuZero's three functions as fully connected networks, for vector observations.

Hidden layers are Linear -> LayerNorm -> ELU: the normalisation keeps the
activations of a dynamics function applied K times in a row in a sane range,
which plain MLPs do not. The last layer of every head (policy, value, reward)
starts at zero, so an untrained network predicts value 0, reward 0 and a
uniform prior: early searches are then driven by visit counts, not by noise
from a random head.

Latent min-max scaling lives in `muzero_net.py`, shared with the ResNet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def zero_(layer: nn.Linear | nn.Conv2d) -> nn.Module:
    """Zero a layer's weight and bias in place; returns the layer."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def hidden_layers(in_dim: int, widths: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Linear -> LayerNorm -> ELU for each width; returns the stack and its output width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.ELU()]
        in_dim = width
    return nn.Sequential(*layers), in_dim


class MLP(nn.Module):
    """Hidden layers, then one plain linear output layer (zeroed if `zero_last`)."""

    def __init__(self, in_dim: int, widths: Sequence[int], out_dim: int, *, zero_last: bool = False):
        super().__init__()
        self.trunk, width = hidden_layers(in_dim, widths)
        self.out = nn.Linear(width, out_dim)
        if zero_last:
            zero_(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(x))


class MLPCore(nn.Module):
    """Representation, dynamics, reward and prediction for flat latents [B, latent_dim].

    Any observation shape is accepted and flattened. The reward head reads
    the (scaled) next latent, like the value head, so both see the same
    kind of input.

    With continuous actions (`action_dim` D > 0) the dynamics takes the action
    vector [B, D] instead of a one-hot index, and the policy head gives the 2D
    parameters of a Gaussian (mean, then log standard deviation; mcts.sampled).
    """

    def __init__(self, obs_dim: int, num_actions: int, support_size: int, latent_dim: int,
                 hidden: Sequence[int], action_dim: int = 0):
        super().__init__()
        hidden = tuple(hidden)
        support = 2 * support_size + 1
        self.num_actions = num_actions
        self.action_dim = action_dim
        self.latent_shape: tuple[int, ...] = (latent_dim,)
        self.representation_net = MLP(obs_dim, hidden, latent_dim)
        self.dynamics_net = MLP(latent_dim + (action_dim or num_actions), hidden, latent_dim)
        self.reward_net = MLP(latent_dim, hidden[-1:], support, zero_last=True)
        self.prediction_trunk, width = hidden_layers(latent_dim, hidden)
        self.policy_head = zero_(nn.Linear(width, 2 * action_dim if action_dim else num_actions))
        self.value_head = zero_(nn.Linear(width, support))

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        return self.representation_net(obs.reshape(obs.shape[0], -1))

    def dynamics(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if self.action_dim:
            return self.dynamics_net(torch.cat([latent, action.to(latent.device, latent.dtype)], dim=1))
        one_hot = F.one_hot(action.to(latent.device), self.num_actions).to(latent.dtype)
        return self.dynamics_net(torch.cat([latent, one_hot], dim=1))

    def reward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.reward_net(latent)

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prediction_trunk(latent)
        return self.policy_head(x), self.value_head(x)
