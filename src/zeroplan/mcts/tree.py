"""The batched search tree: struct-of-arrays over (batch, node), and the kernels
every search policy shares (root set-up, expansion, backup, Q values).

Structs keep argument lists short: the tree's arrays are one `Tree`, the edges a
simulation expands one `Leaves`, the model's answer one `ModelOutput`, and the
settings namedtuples of scalars (`BackupParams`, `puct.PuctParams`,
`gumbel.GumbelParams`). Two numba costs decide how they are passed (measured
with numba 0.68; the search calls two kernels per simulation):

- A kernel called from Python takes each struct as a plain tuple of its fields
  (`tuple(tree)`) and rebuilds the namedtuple on entry (`Tree(*tree)`): numba
  dispatches a namedtuple argument ~0.6 us slower than a plain tuple.
- Helpers that run inside a kernel's loops (per root, per node) take the
  arrays they read, not a struct: handed a `Tree` or even a `Leaves`, the
  compiled loops ran 5-20% slower.

This is the one place where value signs are handled: a value is always from the
point of view of the player to move at its node, and crossing a ply where the
player changes negates it (see `expand_and_backup`, which keeps each
edge's Q up to date for the selection kernels). docs/search.md states the rules.

With chance nodes (Stochastic MuZero, `BackupParams.chance_nodes`) decision and
chance nodes alternate: an action leads to an afterstate (a chance node, same
player, no reward, no discount: its value is Q(s, a)), and a chance code leads
from the afterstate to the next state (the reward, the discount and the change
of player sit on that edge). Chance nodes choose their child with
`chance_child`, whichever policy the decision nodes follow.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

_NO_CHILD = -1


class Tree(NamedTuple):
    """All statistics of B independent trees of at most N nodes.

    Node 0 is the root and the node made by simulation s is s + 1, so nodes are
    never allocated dynamically. Embeddings live in the tree's own array, in the
    dtype the model gives them, flattened to F values per node.
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
    legal: np.ndarray  # bool [B, N, A]: the root's legal mask; below it, the actions the model gave a finite logit
    min_max: np.ndarray  # float64 [B, 2]: smallest and largest Q seen (pUCT)
    embeddings: np.ndarray  # [B, N, F]
    chance: np.ndarray  # bool [B, N]: a chance node (an afterstate, Stochastic MuZero; mcts.chance)

    @property
    def batch_size(self) -> int:
        return self.children.shape[0]

    @property
    def num_actions(self) -> int:
        return self.children.shape[2]

    @classmethod
    def allocate(cls, num_nodes: int, num_actions: int, root_embeddings: np.ndarray) -> Tree:
        """An empty tree per root of `root_embeddings` [B, ...]; node 0 holds the root's embedding."""
        batch = root_embeddings.shape[0]
        emb = np.empty((batch, num_nodes) + root_embeddings.shape[1:], dtype=root_embeddings.dtype)
        emb[:, 0] = root_embeddings
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
            legal=np.zeros((batch, num_nodes, num_actions), dtype=np.bool_),
            min_max=min_max,
            embeddings=emb.reshape(batch, num_nodes, -1),
            chance=np.zeros((batch, num_nodes), dtype=np.bool_),
        )

    def root_visit_counts(self) -> np.ndarray:
        """[B, A] visits of each root child (0 where the child was never made)."""
        kids = self.children[:, 0, :]
        b = np.arange(self.batch_size)[:, None]
        return np.where(kids >= 0, self.visits[b, np.maximum(kids, 0)], 0).astype(np.int64)

    def root_values(self) -> np.ndarray:
        return self.value_sum[:, 0] / self.visits[:, 0]


class Leaves(NamedTuple):
    """Where each tree's simulation expands, as a selection kernel leaves it."""

    parent: np.ndarray  # int32 [B], the node the new edge leaves from
    action: np.ndarray  # int32 [B], the edge's action
    embeddings: np.ndarray  # [B, F], the parent's embedding, for the model
    depth_stats: np.ndarray  # int64 [2]: sum and max of the depths reached, over all simulations


class ModelOutput(NamedTuple):
    """What the model said about the leaves' edges (float64 except the embeddings)."""

    embeddings: np.ndarray  # [B, F], the tree's dtype
    rewards: np.ndarray  # [B]
    values: np.ndarray  # [B]
    logits: np.ndarray  # [B, A]


class BackupParams(NamedTuple):
    discount: float
    num_players: int
    track_min_max: bool  # pUCT normalises Q by the tree's min and max
    with_log_prior: bool  # Gumbel search scores with log(prior)
    chance_nodes: bool = False  # Stochastic MuZero: every decision node's children are chance nodes


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
def init_roots(tree: tuple, logits: np.ndarray, values: np.ndarray, legal: np.ndarray, root_to_play: np.ndarray,
               with_log_prior: bool) -> None:
    """The root counts the network's own evaluation as its first visit. `tree` is a
    `Tree` as a plain tuple."""
    tree = Tree(*tree)
    for b in range(tree.prior.shape[0]):
        tree.legal[b, 0, :] = legal[b]
        masked_softmax(logits[b], legal[b], tree.prior[b, 0])
        if with_log_prior:
            fill_log(tree.prior[b, 0], tree.log_prior[b, 0])
        tree.visits[b, 0] = 1
        tree.value_sum[b, 0] = values[b]
        tree.raw_value[b, 0] = values[b]
        tree.to_play[b, 0] = root_to_play[b]


@numba.njit(cache=True, inline="always")
def _all_finite(out: ModelOutput) -> bool:
    """Rewards and values finite; logits finite or -inf (an action the model knows to
    be illegal, e.g. a search over the true rules), at least one finite per row."""
    rewards, values, logits = out.rewards, out.values, out.logits
    for b in range(rewards.shape[0]):
        if not (math.isfinite(rewards[b]) and math.isfinite(values[b])):
            return False
        any_legal = False
        for a in range(logits.shape[1]):
            x = logits[b, a]
            if math.isfinite(x):
                any_legal = True
            elif x != -np.inf:
                return False
        if not any_legal:
            return False
    return True


@numba.njit(cache=True)
def expand_and_backup(tree: tuple, leaves: tuple, node: int, out: tuple, params: tuple) -> bool:
    """Create node `node` under (leaves.parent, leaves.action) in every tree and back
    the model's value up to the root, refreshing the Q of every edge on the way.
    `out` is a `ModelOutput`, `params` a `BackupParams`, each as a plain tuple.
    Returns False, changing nothing, if the model's outputs are not all finite (logits
    may be -inf for illegal actions, as long as each node keeps one legal action)."""
    tree, leaves, out, params = Tree(*tree), Leaves(*leaves), ModelOutput(*out), BackupParams(*params)
    if not _all_finite(out):
        return False
    _expand(tree, leaves, node, out, params)
    _backup(tree, node, out.values, params)
    return True


@numba.njit(cache=True, inline="always")
def _expand(tree: Tree, leaves: Leaves, node: int, out: ModelOutput, params: BackupParams) -> None:
    children, parent, to_play, prior, log_prior = tree.children, tree.parent, tree.to_play, tree.prior, tree.log_prior
    legal = tree.legal
    embeddings, reward, raw_value = tree.embeddings, tree.reward, tree.raw_value
    leaf_parent, leaf_action = leaves.parent, leaves.action
    num_players = params.num_players
    chance = tree.chance
    for b in range(children.shape[0]):
        p = leaf_parent[b]
        is_chance = params.chance_nodes and not chance[b, p]
        chance[b, node] = is_chance
        embeddings[b, node, :] = out.embeddings[b, :]
        children[b, p, leaf_action[b]] = node
        parent[b, node] = p
        reward[b, node] = out.rewards[b]
        raw_value[b, node] = out.values[b]
        same_player = num_players == 1 or is_chance  # the player changes on the chance edge
        to_play[b, node] = to_play[b, p] if same_player else (to_play[b, p] + 1) % num_players
        for a in range(legal.shape[2]):
            legal[b, node, a] = out.logits[b, a] > -np.inf
        masked_softmax(out.logits[b], legal[b, node], prior[b, node])
        if params.with_log_prior:
            fill_log(prior[b, node], log_prior[b, node])


@numba.njit(cache=True, inline="always")
def _backup(tree: Tree, leaf: int, values: np.ndarray, params: BackupParams) -> None:
    """Back values [B] up from node `leaf` to the root of every tree."""
    parent, visits, value_sum, reward, q, to_play = tree.parent, tree.visits, tree.value_sum, tree.reward, tree.q, \
        tree.to_play
    min_max, chance = tree.min_max, tree.chance
    for b in range(parent.shape[0]):
        g = values[b]
        n = leaf
        while True:
            value_sum[b, n] += g
            visits[b, n] += 1
            if n == 0:
                break
            up = parent[b, n]
            sign = 1.0 if to_play[b, n] == to_play[b, up] else -1.0
            discount = 1.0 if chance[b, n] else params.discount  # an afterstate is no step in time
            edge_q = reward[b, n] + discount * sign * (value_sum[b, n] / visits[b, n])
            q[b, n] = edge_q
            if params.track_min_max:
                if edge_q < min_max[b, 0]:
                    min_max[b, 0] = edge_q
                if edge_q > min_max[b, 1]:
                    min_max[b, 1] = edge_q
            g = reward[b, n] + discount * sign * g
            n = up


@numba.njit(cache=True, inline="always")
def chance_child(children: np.ndarray, visits: np.ndarray, prior: np.ndarray, legal: np.ndarray, b: int,
                 p: int) -> int:
    """At chance node p, Stochastic MuZero's quasi-random choice of outcome: the
    first code with the highest prior / (visits + 1), so visits follow the
    predicted code distribution."""
    best = -1
    best_score = -np.inf
    for c in range(children.shape[2]):
        if not legal[b, p, c]:
            continue
        kid = children[b, p, c]
        score = prior[b, p, c] / ((visits[b, kid] if kid >= 0 else 0) + 1)
        if best < 0 or score > best_score:
            best = c
            best_score = score
    return best
