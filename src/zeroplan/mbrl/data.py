"""All transitions PETS has seen, as numpy arrays.

PETS refits its model on every transition so far after each episode, so this
is an append-only store, not a replay buffer with sampling. It converts to
and from a flat dict of tensors so that the data can ride in a checkpoint's
safetensors file (no pickles, and written atomically with the weights).
"""

from __future__ import annotations

import numpy as np
import torch

_FIELDS = ("obs", "actions", "rewards", "next_obs")


class Transitions:
    def __init__(self, obs_dim: int, action_dim: int):
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self._chunks: dict[str, list[np.ndarray]] = {f: [] for f in _FIELDS}
        self._cache: dict[str, np.ndarray] | None = None

    def add_episode(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """obs [T+1, d], actions [T, a], rewards [T] of one episode."""
        obs = np.asarray(obs, np.float32)
        actions = np.asarray(actions, np.float32).reshape(len(obs) - 1, self.action_dim)
        rewards = np.asarray(rewards, np.float32).reshape(len(obs) - 1)
        self._append(obs[:-1], actions, rewards, obs[1:])

    def _append(self, obs, actions, rewards, next_obs) -> None:
        for f, v in zip(_FIELDS, (obs, actions, rewards, next_obs)):
            self._chunks[f].append(np.array(v, np.float32))
        self._cache = None

    def arrays(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            empty = {"obs": (0, self.obs_dim), "actions": (0, self.action_dim), "rewards": (0,),
                     "next_obs": (0, self.obs_dim)}
            self._cache = {f: np.concatenate(c) if c else np.zeros(empty[f], np.float32)
                           for f, c in self._chunks.items()}
        return self._cache

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks["rewards"])

    def model_io(self, learned_reward: bool) -> tuple[np.ndarray, np.ndarray]:
        """Inputs [obs, action] and targets [next_obs - obs (, reward)]: the
        model predicts the change, which is small and well scaled."""
        a = self.arrays()
        inputs = np.concatenate([a["obs"], a["actions"]], axis=1)
        delta = a["next_obs"] - a["obs"]
        targets = np.concatenate([delta, a["rewards"][:, None]], axis=1) if learned_reward else delta
        return inputs, targets

    def tensors(self, prefix: str = "data.") -> dict[str, torch.Tensor]:
        return {prefix + f: torch.from_numpy(v.copy()) for f, v in self.arrays().items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], obs_dim: int, action_dim: int,
                     prefix: str = "data.") -> Transitions:
        out = cls(obs_dim, action_dim)
        if prefix + "rewards" not in tensors:
            return out
        parts = [tensors[prefix + f].numpy() for f in _FIELDS]
        n = len(parts[2])
        shapes = [(n, obs_dim), (n, action_dim), (n,), (n, obs_dim)]
        for f, p, s in zip(_FIELDS, parts, shapes):
            if p.shape != s:
                raise ValueError(f"stored transitions: {prefix + f} has shape {p.shape}, expected {s}")
        out._append(*parts)
        return out
