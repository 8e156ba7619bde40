"""Batched Monte Carlo tree search over a learned model.

B roots are searched together, the model is called once per simulation for the
whole batch, and everything crossing the boundary is numpy. Each policy has its
own entry point, `puct_search` (MuZero) and `gumbel_search` (Gumbel MuZero),
over one shared simulation loop (`loop.simulate`); `search` dispatches on
`config.policy`. The algorithms are specified in docs/search.md.
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import SearchConfig
from zeroplan.mcts.loop import RecurrentFn, SearchResult, SearchRoot
from zeroplan.mcts.policies import gumbel_search, puct_search
from zeroplan.mcts.chance import ChanceNodes
from zeroplan.mcts.sampled import SampledActions

__all__ = ["SearchRoot", "SearchResult", "RecurrentFn", "search", "puct_search", "gumbel_search"]


def search(
    root: SearchRoot,
    recurrent_fn: RecurrentFn,
    rng: np.random.Generator,
    config: SearchConfig,
    *,
    num_players: int = 1,
    temperature: float | np.ndarray = 1.0,
    explore: bool = True,
    gumbel: np.ndarray | None = None,
    sampled: SampledActions | None = None,
    chance: ChanceNodes | None = None,
) -> SearchResult:
    """Search B roots at once with the policy `config.policy` names.

    `explore=False` (evaluation) turns off Dirichlet noise (pUCT) and Gumbel
    noise. `temperature` (scalar or [B]) applies to pUCT's choice from visit
    counts (0 picks the most visited) and scales Gumbel search's noise (0
    takes the best action of the improved policy). `gumbel` overrides the
    Gumbel noise [B, A] (already scaled: neither `gumbel_scale` nor
    `temperature` applies), for tests and for replaying a search; pUCT
    ignores it. `sampled` makes it a Sampled MuZero search (mcts.sampled):
    the roots' actions are their K samples, and `recurrent_fn` returns policy
    parameters instead of logits. `chance` gives the tree chance nodes
    (Stochastic MuZero, mcts.chance): `recurrent_fn` then also takes which
    leaves hang from a chance node, and the roots must already be padded.
    """
    if config.policy == "gumbel":
        return gumbel_search(root, recurrent_fn, rng, config, num_players=num_players, temperature=temperature,
                             explore=explore, gumbel=gumbel, sampled=sampled, chance=chance)
    return puct_search(root, recurrent_fn, rng, config, num_players=num_players, temperature=temperature,
                       explore=explore, sampled=sampled, chance=chance)
