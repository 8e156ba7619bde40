"""The batched search tree: struct-of-arrays over (batch, node), and the kernels
every search policy shares (root set-up, expansion, backup, Q values).

This is the one place where value signs are handled: a value is always from the
point of view of the player to move at its node, and crossing a ply where the
player changes negates it (see `expand_and_backup`, which keeps each
edge's Q up to date for the selection kernels). docs/search.md states the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

_NO_CHILD = -1


@dataclass
class Tree:
    """All statistics of B independent trees of at most `num_nodes` nodes.

    Node 0 is the root and the node made by simulation s is s + 1, so nodes are
    never allocated dynamically. Embeddings live in the tree's own array, in the
    dtype the model gives them.
    """

    children: np.ndarray  # int32 [B, N, A], -1 where the edge has no child yet
    parent: np.ndarray  # int32 [B, N]
    visits: np.ndarray  # int32 [B, N]
    value_sum: np.ndarray  # float64 [B, N]
    reward: np.ndarray  # float64 [B, N], reward on the edge into the node
    q: np.ndarray  # float64 [B, N], Q of the edge into the node, from the parent's player's view
    raw_value: np.ndarray  # float64 [B, N], the network's value of the node
    prior: np.ndarray  # float64 [B, N, A]
    log_prior: np.ndarray  # float64 [B, N, A], filled only for Gumbel search (computed once per node)
    to_play: np.ndarray  # int32 [B, N]
    min_max: np.ndarray  # float64 [B, 2]: smallest and largest Q seen (pUCT)
    embeddings: np.ndarray  # [B, N, *E]

    @property
    def flat_embeddings(self) -> np.ndarray:
        """[B, N, F] view of the embeddings, for the kernels."""
        return self.embeddings.reshape(self.embeddings.shape[0], self.embeddings.shape[1], -1)

    @property
    def batch_size(self) -> int:
        return self.children.shape[0]

    @property
    def num_actions(self) -> int:
        return self.children.shape[2]

    @classmethod
    def allocate(cls, batch: int, num_nodes: int, num_actions: int, embeddings: np.ndarray) -> Tree:
        emb = np.empty((batch, num_nodes) + embeddings.shape[1:], dtype=embeddings.dtype)
        emb[:, 0] = embeddings
        min_max = np.empty((batch, 2))
        min_max[:, 0] = np.inf
        min_max[:, 1] = -np.inf
        return cls(
            children=np.full((batch, num_nodes, num_actions), _NO_CHILD, dtype=np.int32),
            parent=np.full((batch, num_nodes), _NO_CHILD, dtype=np.int32),
            visits=np.zeros((batch, num_nodes), dtype=np.int32),
            value_sum=np.zeros((batch, num_nodes)),
            reward=np.zeros((batch, num_nodes)),
            q=np.zeros((batch, num_nodes)),
            raw_value=np.zeros((batch, num_nodes)),
            prior=np.zeros((batch, num_nodes, num_actions)),
            log_prior=np.empty((batch, num_nodes, num_actions)),
            to_play=np.zeros((batch, num_nodes), dtype=np.int32),
            min_max=min_max,
            embeddings=emb,
        )

    def root_visit_counts(self) -> np.ndarray:
        """[B, A] visits of each root child (0 where the child was never made)."""
        kids = self.children[:, 0, :]
        b = np.arange(self.batch_size)[:, None]
        return np.where(kids >= 0, self.visits[b, np.maximum(kids, 0)], 0).astype(np.int64)

    def root_values(self) -> np.ndarray:
        return self.value_sum[:, 0] / self.visits[:, 0]


@numba.njit(cache=True)
def masked_softmax(logits: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
    """out = softmax(logits) over the actions where mask is true, 0 elsewhere."""
    best = -np.inf
    for a in range(logits.shape[0]):
        if mask[a] and logits[a] > best:
            best = logits[a]
    total = 0.0
    for a in range(logits.shape[0]):
        if mask[a]:
            out[a] = math.exp(logits[a] - best)
            total += out[a]
        else:
            out[a] = 0.0
    for a in range(logits.shape[0]):
        out[a] = out[a] / total


@numba.njit(cache=True, inline="always")
def fill_log(probs: np.ndarray, out: np.ndarray) -> None:
    for a in range(probs.shape[0]):
        out[a] = math.log(probs[a]) if probs[a] > 0.0 else -np.inf


@numba.njit(cache=True)
def init_roots(
    prior: np.ndarray,
    log_prior: np.ndarray,
    visits: np.ndarray,
    value_sum: np.ndarray,
    raw_value: np.ndarray,
    to_play: np.ndarray,
    logits: np.ndarray,
    values: np.ndarray,
    legal: np.ndarray,
    root_to_play: np.ndarray,
    with_log_prior: bool,
) -> None:
    """The root counts the network's own evaluation as its first visit."""
    for b in range(prior.shape[0]):
        masked_softmax(logits[b], legal[b], prior[b, 0])
        if with_log_prior:
            fill_log(prior[b, 0], log_prior[b, 0])
        visits[b, 0] = 1
        value_sum[b, 0] = values[b]
        raw_value[b, 0] = values[b]
        to_play[b, 0] = root_to_play[b]


@numba.njit(cache=True)
def expand_and_backup(
    children: np.ndarray,
    parent: np.ndarray,
    visits: np.ndarray,
    value_sum: np.ndarray,
    reward: np.ndarray,
    q: np.ndarray,
    raw_value: np.ndarray,
    prior: np.ndarray,
    log_prior: np.ndarray,
    to_play: np.ndarray,
    min_max: np.ndarray,
    embeddings: np.ndarray,
    leaf_parent: np.ndarray,
    leaf_action: np.ndarray,
    node: int,
    next_embeddings: np.ndarray,
    rewards: np.ndarray,
    values: np.ndarray,
    logits: np.ndarray,
    discount: float,
    num_players: int,
    track_min_max: bool,
    with_log_prior: bool,
) -> bool:
    """Create node `node` under (leaf_parent, leaf_action) in every tree and back
    the model's value up to the root, refreshing the Q of every edge on the way.
    Returns False, changing nothing, if the model's outputs are not all finite."""
    num_actions = prior.shape[2]
    for b in range(children.shape[0]):
        if not (math.isfinite(rewards[b]) and math.isfinite(values[b])):
            return False
        for a in range(num_actions):
            if not math.isfinite(logits[b, a]):
                return False
    all_legal = np.ones(num_actions, dtype=np.bool_)
    for b in range(children.shape[0]):
        p = leaf_parent[b]
        embeddings[b, node, :] = next_embeddings[b, :]
        children[b, p, leaf_action[b]] = node
        parent[b, node] = p
        reward[b, node] = rewards[b]
        raw_value[b, node] = values[b]
        to_play[b, node] = to_play[b, p] if num_players == 1 else (to_play[b, p] + 1) % num_players
        masked_softmax(logits[b], all_legal, prior[b, node])
        if with_log_prior:
            fill_log(prior[b, node], log_prior[b, node])
        g = values[b]
        n = node
        while True:
            value_sum[b, n] += g
            visits[b, n] += 1
            if n == 0:
                break
            up = parent[b, n]
            sign = 1.0 if to_play[b, n] == to_play[b, up] else -1.0
            edge_q = reward[b, n] + discount * sign * (value_sum[b, n] / visits[b, n])
            q[b, n] = edge_q
            if track_min_max:
                if edge_q < min_max[b, 0]:
                    min_max[b, 0] = edge_q
                if edge_q > min_max[b, 1]:
                    min_max[b, 1] = edge_q
            g = reward[b, n] + discount * sign * g
            n = up
    return True
