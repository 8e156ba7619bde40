"""Self-play: N environments in lockstep, one batched search per move.

Each environment is reset on its own when its episode ends; finished episodes
come back as numpy `Episode`s. The search sees the model only through
`SearchModel`-like objects (numpy in, numpy out).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from zeroplan.config import Config
from zeroplan.mcts import SearchResult, SearchRoot, search
from zeroplan.muzero.episode import Episode, EpisodeBuilder
from zeroplan.muzero.replay import stack_frames


class Model(Protocol):
    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray): ...


def plan(model: Model, obs: np.ndarray, legal: np.ndarray, to_play: np.ndarray, config: Config,
         rng: np.random.Generator, num_players: int, temperature: float, explore: bool) -> SearchResult:
    """One batched search from observations (already frame-stacked)."""
    latent, value, logits = model.initial(obs)
    root = SearchRoot(latent, logits, value, legal, to_play)
    return search(root, model.recurrent_fn, rng, config.search, num_players=num_players, temperature=temperature,
                  explore=explore)


class SelfPlay:
    def __init__(self, config: Config, env_factory: Callable[[], object], seed: int, num_envs: int | None = None):
        self.config = config
        self.envs = [env_factory() for _ in range(num_envs or config.train.num_envs)]
        self.spec = self.envs[0].spec
        self.rng = np.random.default_rng(seed)
        self._seed = seed
        self._resets = 0
        self.builders = [self._reset(env) for env in self.envs]
        self.env_steps = 0
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []

    def _reset(self, env) -> EpisodeBuilder:
        obs = env.reset(seed=self._seed * 1_000_003 + self._resets)
        self._resets += 1
        return EpisodeBuilder(obs, env.legal_mask().copy(), env.to_play())

    def _stacked(self, builder: EpisodeBuilder) -> np.ndarray:
        return stack_frames(builder.obs, len(builder.obs) - 1, self.config.replay.stack_frames)

    def step(self, model: Model, temperature: float, explore: bool = True) -> list[Episode]:
        """One move in every environment; returns the episodes that ended."""
        obs = np.stack([self._stacked(b) for b in self.builders])
        legal = np.stack([b.legal[-1] for b in self.builders])
        to_play = np.array([b.to_play[-1] for b in self.builders])
        out = plan(model, obs, legal, to_play, self.config, self.rng, self.spec.num_players, temperature, explore)
        ended: list[tuple[int, bool]] = []
        for i, (env, builder) in enumerate(zip(self.envs, self.builders)):
            builder.record_search(float(out.root_values[i]), out.policy_targets[i].astype(np.float32))
            action = int(out.actions[i])
            next_obs, reward, terminated, truncated = env.step(action)
            builder.record_step(action, reward, next_obs, env.legal_mask().copy(), env.to_play())
            if terminated or truncated:
                ended.append((i, terminated))
        self.env_steps += len(self.envs)
        self.last_search = out
        return self._finish(model, ended)

    def _finish(self, model: Model, ended: list[tuple[int, bool]]) -> list[Episode]:
        if not ended:
            return []
        cut = [i for i, terminated in ended if not terminated]
        final_values = {}
        if cut:  # the value of the last state of an episode cut by a time limit
            _, values, _ = model.initial(np.stack([self._stacked(self.builders[i]) for i in cut]))
            final_values = dict(zip(cut, values.tolist()))
        episodes = []
        for i, terminated in ended:
            ep = self.builders[i].finish(terminated, final_values.get(i, 0.0))
            episodes.append(ep)
            self.episode_returns.append(ep.total_reward)
            self.episode_lengths.append(len(ep))
            self.builders[i] = self._reset(self.envs[i])
        return episodes
