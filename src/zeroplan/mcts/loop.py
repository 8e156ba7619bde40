"""What every search policy shares: the roots and results, and the simulation loop.

A policy (`zeroplan.mcts.policies`) prepares the root, hands `simulate` its
selection step, and turns the finished tree into actions and policy targets;
`simulate` runs the simulations: select one leaf per root, call the model once
for the whole batch, expand and back up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Tuple

import numpy as np

from zeroplan.mcts.sampled import SampledActions
from zeroplan.mcts.tree import BackupParams, Tree, expand_and_backup

RecurrentFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""(embeddings [B, ...], actions [B]) -> (next embeddings [B, ...], rewards [B], values [B], prior logits [B, A])."""

SelectFn = Callable[[int, tuple], None]
"""A policy's selection step: (simulation index, the fields of a `Leaves`) -> None;
it fills the leaves with the edge each tree expands next (a numba kernel, wrapped
with its other arguments)."""


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
    tree: Tree | None = field(default=None, repr=False)  # the finished trees, for reading back (mcts.describe)
    # Sampled search (mcts.sampled): the roots' K action codes [B, K, ...]; `actions`,
    # `visit_counts` and `policy_targets` index them.
    codes: np.ndarray | None = field(default=None, repr=False)
    # What the environments are given (set by mcts.model.plan): `actions` themselves, or with
    # sampled search the chosen samples' actions (indices, or [B, D] vectors in [-1, 1]).
    env_actions: np.ndarray | None = field(default=None, repr=False)

    def chosen_codes(self) -> np.ndarray:
        """The action code of each root's chosen child [B, ...] (sampled search only)."""
        return self.codes[np.arange(len(self.actions)), self.actions]


def check_num_players(num_players: int) -> None:
    if num_players not in (1, 2):
        raise ValueError(f"num_players must be 1 or 2, got {num_players}")


def simulate(tree: Tree, root: SearchRoot, recurrent_fn: RecurrentFn, select: SelectFn, num_simulations: int,
             backup: BackupParams, knows_rules: bool = False, sampled: SampledActions | None = None,
             chance=None) -> np.ndarray:
    """Run `num_simulations` simulations on every tree; return the depth statistics
    (sum and max over all simulations and roots, int64 [2]). Only a model that
    `knows_rules` (search.model 'rules') may mark illegal actions with a logit of
    -inf; from a learned network one is a fault, refused like a NaN.

    With `sampled` (Sampled MuZero), an edge's action is an index into its parent's
    K samples: the model is given the sample's action input and returns policy
    parameters, from which the new node's samples and prior logits are drawn.

    With `chance` (a `mcts.chance.ChanceNodes`, which imports this module; Stochastic
    MuZero) the model is also told which
    leaves hang from a chance node, and its logits are padded to the tree's width."""
    batch, num_actions = root.prior_logits.shape
    leaf_shape, emb_dtype = root.embeddings.shape, tree.embeddings.dtype  # [B, ...]
    num_features = tree.embeddings.shape[2]
    parent = np.empty(batch, dtype=np.int32)
    action = np.empty(batch, dtype=np.int32)
    depth_stats = np.zeros(2, dtype=np.int64)
    fields, backup = tuple(tree), tuple(backup)  # the kernels take structs as plain tuples (tree.py)
    for sim in range(num_simulations):
        # The leaf embeddings are handed to the model: a fresh array every simulation.
        leaf_embeddings = np.empty((batch, num_features), dtype=emb_dtype)
        leaves = (parent, action, leaf_embeddings, depth_stats)  # a Leaves
        select(sim, leaves)
        edge = action.copy() if sampled is None else sampled.edge_inputs(parent, action)
        if chance is None:
            next_emb, rewards, values, logits = recurrent_fn(leaf_embeddings.reshape(leaf_shape), edge)
        else:
            from_chance = tree.chance[np.arange(batch), parent]
            next_emb, rewards, values, logits = recurrent_fn(leaf_embeddings.reshape(leaf_shape), edge, from_chance)
        if not knows_rules and np.isneginf(logits).any():
            raise FloatingPointError(f"recurrent_fn returned a logit of -inf at simulation {sim}: a learned model's "
                                     "logits must be finite (only search.model 'rules' marks illegal moves so)")
        next_emb = np.asarray(next_emb, dtype=emb_dtype)
        if next_emb.shape != leaf_shape:
            raise ValueError(f"recurrent_fn returned embeddings of shape {next_emb.shape}, expected {leaf_shape}")
        if sampled is not None:
            if not np.isfinite(logits).all():
                raise FloatingPointError(f"recurrent_fn returned non-finite policy parameters at simulation {sim}")
            logits = sampled.expand(sim + 1, logits)
        if chance is not None:
            logits = chance.edge_logits(logits, from_chance)
        out = (next_emb.reshape(batch, -1), _as_f64(rewards, (batch,)), _as_f64(values, (batch,)),
               _as_f64(logits, (batch, num_actions)))  # a ModelOutput
        if not expand_and_backup(fields, leaves, sim + 1, out, backup):
            raise FloatingPointError(f"recurrent_fn returned a non-finite reward, value or logit at simulation {sim}")
    return depth_stats


def search_result(tree: Tree, root: SearchRoot, visit_counts: np.ndarray, actions: np.ndarray,
                  policy_targets: np.ndarray, depth_stats: np.ndarray, root_value: str,
                  sampled: SampledActions | None = None) -> SearchResult:
    """Package a finished search; `root_value` is `search.root_value`."""
    batch = tree.batch_size
    num_simulations = tree.visits.shape[1] - 1
    return SearchResult(
        actions=actions.astype(np.int64),
        visit_counts=visit_counts,
        root_values=root_values(tree, root, policy_targets, root_value),
        policy_targets=policy_targets,
        mean_depth=float(depth_stats[0]) / (batch * num_simulations),
        max_depth=int(depth_stats[1]),
        tree=tree,
        codes=None if sampled is None else sampled.root_codes(),
    )


def root_values(tree: Tree, root: SearchRoot, policy_targets: np.ndarray, kind: str) -> np.ndarray:
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


def _as_f64(x, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.shape != shape:
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"recurrent_fn returned an array of shape {arr.shape}, expected {shape}")
        arr = arr.reshape(shape)
    return arr
