"""Known reward functions, for environments where the reward is a fixed,
published function of the state and action (the PETS paper gives its planner
the true cost function). Used only when `model.reward: known`; otherwise the
ensemble learns the reward like any other output.

Each function maps batched torch tensors (obs [N, d], action [N, a],
next_obs [N, d]) to rewards [N], computed exactly as the environment does.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def pendulum_reward(obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """Gymnasium Pendulum-v1: -(theta^2 + 0.1 thetadot^2 + 0.001 u^2), with
    theta in [-pi, pi) and thetadot taken *before* the step."""
    theta = torch.atan2(obs[:, 1], obs[:, 0])
    theta = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi
    u = action[:, 0].clamp(-2.0, 2.0)
    return -(theta ** 2 + 0.1 * obs[:, 2] ** 2 + 0.001 * u ** 2)


KNOWN_REWARDS: dict[str, RewardFn] = {"Pendulum-v1": pendulum_reward}


def known_reward(env_id: str) -> RewardFn:
    from zeroplan.config import ConfigError

    if env_id not in KNOWN_REWARDS:
        raise ConfigError(f"model.reward=known: no reward function is known for {env_id!r} "
                          f"(known: {', '.join(sorted(KNOWN_REWARDS))}); use model.reward=learned")
    return KNOWN_REWARDS[env_id]
