"""Known reward and termination functions, for environments where they are
fixed, published functions of the state and action (the PETS paper gives its
planner the true cost function; termination rules like "the pole fell past
0.2 rad" are the same kind of fact). Used only when `model.reward: known` /
`model.termination: known`; otherwise the ensemble learns the reward like any
other output, and imagined trajectories never end.

A reward function maps batched torch tensors (obs [N, d], action [N, a],
next_obs [N, d]) to rewards [N]; a termination function maps next_obs [N, d]
to a bool [N] (the episode ends on arriving there). Both are computed exactly
as the environment computes them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
TerminationFn = Callable[[torch.Tensor], torch.Tensor]


def pendulum_reward(obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """Gymnasium Pendulum-v1: -(theta^2 + 0.1 thetadot^2 + 0.001 u^2), with
    theta in [-pi, pi) and thetadot taken *before* the step."""
    theta = torch.atan2(obs[:, 1], obs[:, 0])
    theta = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi
    u = action[:, 0].clamp(-2.0, 2.0)
    return -(theta ** 2 + 0.1 * obs[:, 2] ** 2 + 0.001 * u ** 2)


def inverted_pendulum_done(next_obs: torch.Tensor) -> torch.Tensor:
    """Gymnasium InvertedPendulum-v5 ends when the state is not finite or the
    pole angle (obs[1]) leaves [-0.2, 0.2] rad."""
    return ~torch.isfinite(next_obs).all(dim=1) | (next_obs[:, 1].abs() > 0.2)


def inverted_pendulum_reward(obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """InvertedPendulum-v5: 1 for every step that does not end the episode."""
    return (~inverted_pendulum_done(next_obs)).to(obs.dtype)


KNOWN_REWARDS: dict[str, RewardFn] = {"Pendulum-v1": pendulum_reward,
                                      "InvertedPendulum-v5": inverted_pendulum_reward}
KNOWN_TERMINATIONS: dict[str, TerminationFn] = {"InvertedPendulum-v5": inverted_pendulum_done}


def known_reward(env_id: str) -> RewardFn:
    from zeroplan.config import ConfigError

    if env_id not in KNOWN_REWARDS:
        raise ConfigError(f"model.reward=known: no reward function is known for {env_id!r} "
                          f"(known: {', '.join(sorted(KNOWN_REWARDS))}); use model.reward=learned")
    return KNOWN_REWARDS[env_id]


def known_termination(env_id: str) -> TerminationFn:
    from zeroplan.config import ConfigError

    if env_id not in KNOWN_TERMINATIONS:
        raise ConfigError(f"model.termination=known: no termination function is known for {env_id!r} "
                          f"(known: {', '.join(sorted(KNOWN_TERMINATIONS))}); use model.termination=none")
    return KNOWN_TERMINATIONS[env_id]
