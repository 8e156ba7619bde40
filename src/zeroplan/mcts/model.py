"""A search from observations: the glue between a model (numpy in, numpy out)
and the batched search. Self-play, reanalyse, evaluation and `predict` all
plan through `plan`. A model that steps copies of the real environments
(`mcts.rules.RulesModel`, AlphaZero) says so with `steps_envs` and is handed
the environments the observations came from."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchResult, SearchRoot, search


class Model(Protocol):
    """What the search needs of a network (e.g. `nets.muzero_net.SearchModel`)."""

    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray): ...


def plan(model: Model, obs: np.ndarray, legal: np.ndarray, to_play: np.ndarray, config: SearchConfig,
         rng: np.random.Generator, num_players: int, temperature: float | np.ndarray, explore: bool,
         envs: list | None = None) -> SearchResult:
    """One batched search from observations (already frame-stacked); `envs`, the
    environments they came from, for a model that steps them."""
    if getattr(model, "steps_envs", False):
        if envs is None:
            raise ValueError("this agent searches over the real game's rules (search.model 'rules'): planning "
                             "needs the environments, not only their observations")
        latent, value, logits = model.initial(obs, envs)
    else:
        latent, value, logits = model.initial(obs)
    root = SearchRoot(latent, logits, value, legal, to_play)
    return search(root, model.recurrent_fn, rng, config, num_players=num_players, temperature=temperature,
                  explore=explore)
