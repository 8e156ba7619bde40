"""Batched Monte Carlo tree search over a learned model.

`search` is the one entry point: B roots are searched together, the model is
called once per simulation for the whole batch, and everything crossing the
boundary is numpy. The algorithms are specified in docs/search.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np

from zeroplan.config import SearchConfig
from zeroplan.mcts.gumbel import considered_visit_table, root_improved_policy, select_gumbel
from zeroplan.mcts.puct import add_dirichlet_noise, select_puct, visit_count_actions
from zeroplan.mcts.tree import Tree, expand_and_backup, init_roots

__all__ = ["SearchRoot", "SearchResult", "RecurrentFn", "search"]

RecurrentFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""(embeddings [B, ...], actions [B]) -> (next embeddings [B, ...], rewards [B], values [B], prior logits [B, A])."""


@dataclass
class SearchRoot:
    """What the network said about B root positions."""

    embeddings: np.ndarray  # [B, ...]
    prior_logits: np.ndarray  # [B, A]
    values: np.ndarray  # [B], from the point of view of the player to move
    legal_mask: np.ndarray  # [B, A] bool
    to_play: np.ndarray  # [B] int

    def validated(self) -> SearchRoot:
        logits = np.asarray(self.prior_logits, dtype=np.float64)
        if logits.ndim != 2:
            raise ValueError(f"prior_logits must be [batch, actions], got shape {logits.shape}")
        batch, num_actions = logits.shape
        legal = np.asarray(self.legal_mask, dtype=np.bool_)
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        to_play = np.asarray(self.to_play, dtype=np.int32).reshape(-1)
        emb = np.asarray(self.embeddings)
        if legal.shape != (batch, num_actions):
            raise ValueError(f"legal_mask must have shape {(batch, num_actions)}, got {legal.shape}")
        if not legal.any(axis=1).all():
            rows = np.flatnonzero(~legal.any(axis=1)).tolist()
            raise ValueError(f"every root needs at least one legal action; roots {rows} have none")
        if values.shape != (batch,) or to_play.shape != (batch,) or emb.shape[:1] != (batch,):
            raise ValueError(
                f"values, to_play and embeddings must have batch size {batch}; got "
                f"{values.shape}, {to_play.shape}, {emb.shape}"
            )
        if not (np.isfinite(logits[legal]).all() and np.isfinite(values).all()):
            raise ValueError("root prior_logits (legal actions) and values must be finite")
        return SearchRoot(emb, logits, values, legal, to_play)


@dataclass
class SearchResult:
    actions: np.ndarray  # [B] int
    visit_counts: np.ndarray  # [B, A] int
    root_values: np.ndarray  # [B]
    policy_targets: np.ndarray  # [B, A]
    mean_depth: float
    max_depth: int


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
) -> SearchResult:
    """Search B roots at once.

    `explore=False` (evaluation) turns off Dirichlet noise (pUCT) and Gumbel
    noise. `temperature` (scalar or [B]) applies to pUCT's choice from visit
    counts (0 picks the most visited) and scales Gumbel search's noise (0
    takes the best action of the improved policy). `gumbel` overrides the
    Gumbel noise [B, A] (already scaled: neither `gumbel_scale` nor
    `temperature` applies), for tests and for replaying a search.
    """
    if num_players not in (1, 2):
        raise ValueError(f"num_players must be 1 or 2, got {num_players}")
    root = root.validated()
    batch, num_actions = root.prior_logits.shape
    sims = config.num_simulations
    temps = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (batch,))
    tree = Tree.allocate(batch, sims + 1, num_actions, root.embeddings)
    gumbel_search = config.policy == "gumbel"
    init_roots(tree.prior, tree.log_prior, tree.visits, tree.value_sum, tree.raw_value, tree.to_play,
               root.prior_logits, root.values, root.legal_mask, root.to_play, gumbel_search)
    if not gumbel_search:
        if explore and config.dirichlet_fraction > 0:
            add_dirichlet_noise(tree.prior[:, 0, :], root.legal_mask, config.dirichlet_alpha,
                                config.dirichlet_fraction, rng)
    else:
        gumbel, considered = _gumbel_root_setup(root, config, rng, explore, gumbel, temps)

    leaf_parent = np.empty(batch, dtype=np.int32)
    leaf_action = np.empty(batch, dtype=np.int32)
    depth_stats = np.zeros(2, dtype=np.int64)
    embeddings = tree.flat_embeddings
    emb_shape, emb_dtype = tree.embeddings.shape[2:], tree.embeddings.dtype
    for sim in range(sims):
        leaf_embeddings = np.empty((batch, embeddings.shape[2]), dtype=emb_dtype)  # handed to the model: fresh
        if gumbel_search:
            select_gumbel(tree.children, tree.visits, tree.q, tree.raw_value, tree.prior, tree.log_prior,
                          root.legal_mask, embeddings, gumbel, considered[sim], config.c_visit, config.c_scale,
                          config.min_value_span, leaf_embeddings, leaf_parent, leaf_action, depth_stats)
        else:
            select_puct(tree.children, tree.visits, tree.q, tree.prior, tree.min_max, root.legal_mask, embeddings,
                        config.pb_c_init, config.pb_c_base, config.min_value_span, leaf_embeddings, leaf_parent, leaf_action, depth_stats)
        next_emb, rewards, values, logits = recurrent_fn(leaf_embeddings.reshape((batch,) + emb_shape),
                                                         leaf_action.copy())
        next_emb = np.asarray(next_emb, dtype=emb_dtype)
        if next_emb.shape != (batch,) + emb_shape:
            raise ValueError(f"recurrent_fn returned embeddings of shape {next_emb.shape}, "
                             f"expected {(batch,) + emb_shape}")
        if not expand_and_backup(tree.children, tree.parent, tree.visits, tree.value_sum, tree.reward, tree.q,
                                 tree.raw_value, tree.prior, tree.log_prior, tree.to_play, tree.min_max, embeddings,
                                 leaf_parent, leaf_action, sim + 1, next_emb.reshape(batch, -1),
                                 _as_f64(rewards, (batch,)), _as_f64(values, (batch,)),
                                 _as_f64(logits, (batch, num_actions)), config.discount, num_players,
                                 not gumbel_search, gumbel_search):
            raise FloatingPointError(f"recurrent_fn returned a non-finite reward, value or logit at simulation {sim}")

    visit_counts = tree.root_visit_counts()
    if not gumbel_search:
        policy_targets = visit_counts / sims
        actions = visit_count_actions(visit_counts, temps, rng)
    else:
        policy_targets = np.empty((batch, num_actions))
        actions = np.empty(batch, dtype=np.int32)
        root_improved_policy(tree.children, tree.visits, tree.q, tree.raw_value, tree.prior, tree.log_prior,
                             root.legal_mask, gumbel, config.c_visit, config.c_scale, config.min_value_span,
                             policy_targets, actions)
    return SearchResult(
        actions=actions.astype(np.int64),
        visit_counts=visit_counts,
        root_values=_root_values(tree, root, policy_targets, config.root_value),
        policy_targets=policy_targets,
        mean_depth=float(depth_stats[0]) / (batch * sims),
        max_depth=int(depth_stats[1]),
    )


def _root_values(tree: Tree, root: SearchRoot, policy_targets: np.ndarray, kind: str) -> np.ndarray:
    """`search.root_value`: the mean of the root's visits, the best visited root Q,
    or the improved policy's expectation of the completed Q (docs/search.md)."""
    if kind == "mean":
        return tree.root_values()
    kids = tree.children[:, 0, :]
    rows = np.arange(tree.batch_size)[:, None]
    visited = (kids >= 0) & root.legal_mask  # every search visits at least one legal root action
    nodes = np.maximum(kids, 0)
    q = np.where(visited, tree.q[rows, nodes], 0.0)
    if kind == "max_q":
        return np.where(visited, q, -np.inf).max(axis=1)
    if kind != "improved":
        raise ValueError(f"unknown root_value {kind!r}")
    n = np.where(visited, tree.visits[rows, nodes], 0)
    n_sum = n.sum(axis=1)
    prior = np.where(visited, tree.prior[:, 0, :], 0.0)
    weighted = (prior * q).sum(axis=1) / prior.sum(axis=1)
    v_mix = (tree.raw_value[:, 0] + n_sum * weighted) / (1 + n_sum)
    completed = np.where(visited, q, v_mix[:, None])
    return np.where(root.legal_mask, policy_targets * completed, 0.0).sum(axis=1)


def _gumbel_root_setup(root: SearchRoot, config: SearchConfig, rng: np.random.Generator, explore: bool,
                       gumbel: np.ndarray | None, temps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Gumbel noise [B, A] and, per simulation, the visit count a root action
    needs to be considered, [S, B] (each root has its own number of legal actions).

    Drawn noise is scaled by `gumbel_scale` and by each root's temperature [B]: the
    argmax of T * g + score samples from softmax(score / T), so T plays the part
    it plays for pUCT's visit counts, and T = 0 is the greedy choice."""
    batch, num_actions = root.prior_logits.shape
    if gumbel is None:
        if np.any(temps < 0) or not np.all(np.isfinite(temps)):
            raise ValueError(f"temperature must be finite and >= 0, got {temps}")
        gumbel = rng.gumbel(size=(batch, num_actions)) * config.gumbel_scale * temps[:, None] if explore \
            else np.zeros((batch, num_actions))
    gumbel = np.ascontiguousarray(gumbel, dtype=np.float64)
    if gumbel.shape != (batch, num_actions):
        raise ValueError(f"gumbel noise must have shape {(batch, num_actions)}, got {gumbel.shape}")
    table = considered_visit_table(min(config.max_num_considered_actions, num_actions), config.num_simulations)
    num_considered = np.minimum(root.legal_mask.sum(axis=1), config.max_num_considered_actions)
    return gumbel, np.ascontiguousarray(table[num_considered].T)


def _as_f64(x, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.shape != shape:
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"recurrent_fn returned an array of shape {arr.shape}, expected {shape}")
        arr = arr.reshape(shape)
    return arr
