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
    # Continuous actions: D > 0 dimensions, each in [-1, 1] (the adapter scales them to
    # the env's bounds); `num_actions` is then 1 and the legal mask a single True.
    action_dim: int = 0
    # Pixel observations (images, boolean planes): float32 multiples of 1/255 in
    # [0, 1], which self-play and replay keep as uint8 (envs/frames.py).
    pixels: bool = False

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
        object.__setattr__(self, "action_dim", int(self.action_dim))
        if self.action_dim < 0 or (self.action_dim > 0 and self.num_actions != 1):
            raise ValueError(f"EnvSpec {self.name!r}: action_dim must be >= 0, and continuous actions come with "
                             f"num_actions 1; got action_dim {self.action_dim}, num_actions {self.num_actions}")

    @property
    def continuous(self) -> bool:
        return self.action_dim > 0

    def to_json(self) -> dict:
        """As a checkpoint's meta.json keeps it."""
        out = {"obs_shape": list(self.obs_shape), "num_actions": self.num_actions, "num_players": self.num_players,
               "name": self.name}
        if self.action_dim:
            out["action_dim"] = self.action_dim
        if self.pixels:
            out["pixels"] = True
        return out

    @classmethod
    def from_json(cls, data: dict) -> EnvSpec:
        return cls(tuple(data["obs_shape"]), int(data["num_actions"]), int(data["num_players"]), data.get("name", ""),
                   int(data.get("action_dim", 0)), bool(data.get("pixels", False)))


@dataclass(frozen=True, eq=False)
class Symmetry:
    """A transformation that maps a game onto itself (a board rotated or mirrored).

    Element i of a transformed observation (flattened) is element `obs_index[i]`
    of the original, and action a in the original position is action
    `action_map[a]` in the transformed one. Playing the mapped actions in the
    transformed game must give exactly the transformed observations, legal
    masks and the same rewards: tests/envs/test_symmetries.py checks that for
    every symmetry a game declares. Environments may offer them through an
    optional `symmetries()` method (the identity excluded); training can then
    show the learner each sample through a random one (`replay.augment_symmetries`).
    """

    obs_index: np.ndarray  # int64 [prod(obs_shape)]
    action_map: np.ndarray  # int64 [num_actions], a permutation

    @classmethod
    def of_grid(cls, planes: int, grid: np.ndarray, action_map) -> Symmetry:
        """For observations of `planes` board planes [planes, H, W]: the transformed
        board's cell (r, c) holds the original's cell `grid[r, c]` (a flat index)."""
        cells = np.asarray(grid, dtype=np.int64).reshape(-1)
        if sorted(cells.tolist()) != list(range(cells.size)):
            raise ValueError("a grid symmetry must be a permutation of the cells")
        index = (np.arange(planes, dtype=np.int64)[:, None] * cells.size + cells[None, :]).reshape(-1)
        actions = np.asarray(action_map, dtype=np.int64)
        if sorted(actions.tolist()) != list(range(actions.size)):
            raise ValueError("a symmetry's action map must be a permutation of the actions")
        return cls(obs_index=index, action_map=actions)

    @property
    def inverse_actions(self) -> np.ndarray:
        """inverse_actions[action_map[a]] == a."""
        return np.argsort(self.action_map)


def env_symmetries(env) -> list[Symmetry]:
    """The non-identity symmetries an environment declares (none if it has no `symmetries()`)."""
    method = getattr(env, "symmetries", None)
    if method is None:
        return []
    found = list(method())
    size = int(np.prod(env.spec.obs_shape))
    for sym in found:
        if not isinstance(sym, Symmetry) or sym.obs_index.shape != (size,) \
                or sym.action_map.shape != (env.spec.num_actions,):
            raise ValueError(f"{env.spec.name or type(env).__name__}: symmetries() must return Symmetry objects "
                             f"over {size} observation elements and {env.spec.num_actions} actions")
    return found


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
