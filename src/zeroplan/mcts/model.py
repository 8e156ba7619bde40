"""A search from observations: the glue between a model (numpy in, numpy out)
and the batched search. Self-play, reanalyse, evaluation and `predict` all
plan through `plan`. A model that steps copies of the real environments
(`mcts.rules.RulesModel`, AlphaZero) says so with `steps_envs` and is handed
the environments the observations came from.

With `search.sampled_actions` K > 0 (Sampled MuZero, mcts.sampled) the roots'
children are K actions drawn from the network's policy, the model's
`action_dim` (0 = discrete) saying what kind; the result's `codes` are those
samples and `env_actions` what the environments are to be given.

A model with `chance_codes` C > 0 (Stochastic MuZero, mcts.chance) is searched
with chance nodes: its `recurrent_fn` takes (latent, edge, from_chance)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchResult, SearchRoot, search
from zeroplan.mcts.chance import ChanceNodes
from zeroplan.mcts.sampled import SampledActions, make_sampler


class Model(Protocol):
    """What the search needs of a network (e.g. `nets.search_model.SearchModel`)."""

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
    action_dim = int(getattr(model, "action_dim", 0))
    codes = int(getattr(model, "chance_codes", 0))
    if codes and config.sampled_actions:
        raise ValueError("chance codes (Stochastic MuZero) and search.sampled_actions cannot be combined yet")
    if not config.sampled_actions:
        if action_dim:
            raise ValueError("continuous actions need a sampled search: set search.sampled_actions (e.g. 16)")
        root = SearchRoot(latent, logits, value, legal, to_play)
        chance = ChanceNodes(np.shape(logits)[1], codes) if codes else None
        out = search(root if chance is None else chance.pad_root(root), model.recurrent_fn, rng, config,
                     num_players=num_players, temperature=temperature, explore=explore, chance=chance)
        if chance is not None:
            chance.trim(out)
        out.env_actions = out.actions
        return out
    if num_players != 1:
        raise ValueError("search.sampled_actions (Sampled MuZero) searches single-player environments only so far")
    sampler = make_sampler(config.sampled_actions, config.sample_temperature, action_dim, np.shape(legal)[1])
    # Acting without exploration puts the policy's own choice among the samples (search.sample_mode);
    # reanalyse turns that off, so that its targets' beta_hat is an honest sample of beta.
    table = SampledActions(sampler, len(obs), config.num_simulations + 1, rng,
                           include_mode=config.sample_mode and not explore)
    root_logits, root_legal = table.root(logits, None if action_dim else legal)
    root = SearchRoot(latent, root_logits, value, root_legal, to_play)
    out = search(root, model.recurrent_fn, rng, config, num_players=num_players, temperature=temperature,
                 explore=explore, sampled=table)
    out.env_actions = sampler.inputs(out.chosen_codes())
    return out
