"""Gymnasium environments with a continuous (Box) action space, for PETS.

A separate adapter from `GymEnv` because the contract differs where it
matters: actions are float vectors inside a box, not indices under a legal
mask. Observations must be flat Box vectors (the dynamics model predicts
their change). Actions are clipped to the box before stepping, and every
observation and reward is checked to be finite, so a misbehaving env stops
with a message naming the step instead of silently corrupting the model's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroplan.config import EnvConfig
from zeroplan.envs.gym import EnvError, make_gym


@dataclass(frozen=True)
class ContinuousSpec:
    obs_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    max_episode_steps: int | None = None
    name: str = ""

    @property
    def action_dim(self) -> int:
        return len(self.action_low)


class ContinuousEnv:
    def __init__(self, env, name: str = ""):
        import gymnasium as gym

        self.env = env
        name = name or "environment"
        act = env.action_space
        if not isinstance(act, gym.spaces.Box):
            raise EnvError(f"{name}: PETS needs a continuous (Box) action space, got {act}. For discrete actions "
                           f"use MuZero (`zeroplan train {name}` or zeroplan.MuZero({name!r})).")
        obs_space = env.observation_space
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise EnvError(f"{name}: PETS needs a flat Box observation space, got {obs_space}")
        low, high = np.asarray(act.low, np.float32).ravel(), np.asarray(act.high, np.float32).ravel()
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise EnvError(f"{name}: the action box must be bounded, got low={low} high={high}")
        self._act_shape = act.shape
        self.low, self.high = low, high
        limit = env.spec.max_episode_steps if env.spec is not None else None
        self.spec = ContinuousSpec(obs_dim=int(obs_space.shape[0]), action_low=tuple(map(float, low)),
                                   action_high=tuple(map(float, high)), max_episode_steps=limit, name=name)
        self._steps = 0

    def _encode(self, obs) -> np.ndarray:
        arr = np.asarray(obs, dtype=np.float32)
        if arr.shape != (self.spec.obs_dim,):
            raise EnvError(f"{self.spec.name}: step {self._steps} returned an observation of shape {arr.shape}, "
                           f"expected ({self.spec.obs_dim},)")
        if not np.isfinite(arr).all():
            raise EnvError(f"{self.spec.name}: step {self._steps} returned a non-finite observation {arr}")
        return arr

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._steps = 0
        obs, _ = self.env.reset(seed=seed)
        return self._encode(obs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """Returns (obs, reward, terminated, truncated); the action is clipped to the box."""
        self._steps += 1
        a = np.asarray(action, dtype=np.float32).ravel()
        if a.shape != self.low.shape or not np.isfinite(a).all():
            raise EnvError(f"{self.spec.name}: step {self._steps} got action {a}, expected {len(self.low)} "
                           "finite numbers")
        a = np.clip(a, self.low, self.high)
        obs, reward, terminated, truncated, _ = self.env.step(a.reshape(self._act_shape))
        reward = float(reward)
        if not np.isfinite(reward):
            raise EnvError(f"{self.spec.name}: step {self._steps} returned a non-finite reward {reward}")
        return self._encode(obs), reward, bool(terminated), bool(truncated)

    def sample_action(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high).astype(np.float32)

    def close(self) -> None:
        self.env.close()


def make_continuous_env(config: EnvConfig) -> ContinuousEnv:
    return ContinuousEnv(make_gym(config.id, config.max_episode_steps, config.kwargs), name=config.id)
