"""Wrappers on the turn-based contract, usable around any environment.

They perturb what the agent sees or what its actions do, never the wrapped
environment's own state or random stream: with noise switched on the
underlying trajectory is the one the clean environment would have produced for
the same actions, which is what makes a generalization gap attributable to the
perturbation alone.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from zeroplan.envs.copies import independent_generator


class _Wrapper:
    """Delegates the contract and any extras (`board()`, `render()`, ...) to the wrapped env."""

    _KIND = 0

    def __init__(self, env, seed: int, stream: int):
        self.env = env
        self.spec = env.spec
        self._seed = int(seed)
        # Envs reset without a seed still get distinct, reproducible streams.
        self.rng = np.random.default_rng([self._seed, self._KIND, int(stream), 1])
        self._copies = 0  # copies made since the env last moved (envs/copies.py)

    def _reseed(self, seed: int | None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng([self._seed, self._KIND, int(seed)])

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._reseed(seed)
        self._copies = 0
        return self.env.reset(seed=seed)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        self._copies = 0
        return self.env.step(action)

    def legal_mask(self) -> np.ndarray:
        return self.env.legal_mask()

    def to_play(self) -> int:
        return self.env.to_play()

    def clone(self):
        """A copy for a search over the real rules: the wrapped env's copy, perturbed
        the same way from a random stream of its own (envs/copies.py)."""
        other = copy.copy(self)
        other.env = self.env.clone()  # AttributeError: the wrapped env cannot be copied
        self._copies += 1
        other.rng = independent_generator(self.rng, self._copies)
        other._copies = 0
        return other

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set (e.g. during unpickling): avoid recursing forever
            raise AttributeError(name)
        return getattr(self.env, name)


class ObservationNoise(_Wrapper):
    """Adds N(0, std^2) to every observation the agent sees."""

    _KIND = 1

    def __init__(self, env, std: float, seed: int = 0, stream: int = 0):
        super().__init__(env, seed, stream)
        if not std >= 0:
            raise ValueError(f"observation noise std must be >= 0, got {std!r}")
        self.std = float(std)

    def _noisy(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        return (obs + self.rng.normal(0.0, self.std, size=obs.shape)).astype(np.float32)

    def reset(self, seed: int | None = None) -> np.ndarray:
        return self._noisy(super().reset(seed))

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        obs, reward, terminated, truncated = super().step(action)
        return self._noisy(obs), reward, terminated, truncated


class StickyActions(_Wrapper):
    """With probability p the previous action is executed instead of the chosen one
    (as in the Arcade Learning Environment's sticky actions).

    The first action of an episode is never sticky, and in games where the
    previous action is no longer legal (a board cell already taken) the chosen
    one is played, so the wrapper is safe around any environment.
    """

    _KIND = 2

    def __init__(self, env, p: float, seed: int = 0, stream: int = 0):
        super().__init__(env, seed, stream)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"sticky action probability must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.previous: int | None = None
        self.last_executed: int | None = None  # for tests and diagnostics

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.previous = None
        return super().reset(seed)

    def step(self, action) -> tuple[np.ndarray, float, bool, bool]:
        continuous = bool(getattr(self.env.spec, "action_dim", 0))  # a vector, which is always legal
        chosen = np.array(action, dtype=np.float32) if continuous else int(action)
        draw = self.rng.random()  # drawn every step, so the stream does not depend on the actions
        executed = chosen
        if self.previous is not None and draw < self.p and (
                continuous or bool(self.env.legal_mask()[self.previous])):
            executed = self.previous
        self.previous = executed
        self.last_executed = executed
        return super().step(executed)
