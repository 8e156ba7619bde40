"""The one environment contract every other room relies on.

Search, self-play and replay never look at a concrete environment: they see an
`EnvSpec` (what the arrays look like) and something shaped like
`TurnBasedEnv`. Adapters in `envs/` bring Gymnasium, PettingZoo and the native
games to this shape, so the rest of the code has one case to handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EnvSpec:
    """Static facts about an environment, fixed before the first reset.

    Checked here so that a bad adapter fails at construction, not deep inside a
    batched search with an opaque shape error.
    """

    obs_shape: tuple[int, ...]
    num_actions: int
    num_players: int  # 1 or 2
    name: str = ""

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.obs_shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"EnvSpec {self.name!r}: obs_shape {shape} has a negative dimension")
        object.__setattr__(self, "obs_shape", shape)
        if int(self.num_actions) < 1:
            raise ValueError(f"EnvSpec {self.name!r}: num_actions must be >= 1, got {self.num_actions}")
        object.__setattr__(self, "num_actions", int(self.num_actions))
        if self.num_players not in (1, 2):
            raise ValueError(f"EnvSpec {self.name!r}: num_players must be 1 or 2, got {self.num_players}")


@runtime_checkable
class TurnBasedEnv(Protocol):
    """Single-agent and two-player environments alike.

    `step` returns (obs, reward, terminated, truncated); the reward is from the
    point of view of the player who just moved, and `obs`, `legal_mask()` and
    `to_play()` describe the position the *next* mover faces.
    """

    spec: EnvSpec

    def reset(self, seed: int | None = None) -> np.ndarray: ...

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]: ...

    def legal_mask(self) -> np.ndarray: ...

    def to_play(self) -> int: ...
