"""MuZero pUCT selection (Schrittwieser et al. 2020, appendix B).

Scores mix the prior, scaled by the c1/c2 exploration schedule, with Q values
normalised by the smallest and largest Q seen in the tree so far; the formula
is in docs/search.md.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from zeroplan.mcts.tree import Leaves, Tree, chance_child


class PuctParams(NamedTuple):
    pb_c_init: float
    pb_c_base: float
    min_span: float  # search.min_value_span


@numba.njit(cache=True, inline="always")
def _normalize(min_max: np.ndarray, b: int, q: float, min_span: float) -> float:
    lo = min_max[b, 0]
    hi = min_max[b, 1]
    if hi > lo:
        return (q - lo) / max(hi - lo, min_span)
    return q


@numba.njit(cache=True, inline="always")
def _best_action(children: np.ndarray, visits: np.ndarray, q: np.ndarray, prior: np.ndarray, min_max: np.ndarray,
                 legal: np.ndarray, b: int, p: int, params: PuctParams) -> int:
    """The first highest pUCT score among node p's legal actions (`legal` is the tree's [B, N, A])."""
    n_parent = visits[b, p]
    c_base = math.log((n_parent + params.pb_c_base + 1.0) / params.pb_c_base) + params.pb_c_init
    sqrt_parent = math.sqrt(n_parent)
    best = -1
    best_score = -np.inf
    for a in range(children.shape[2]):
        if not legal[b, p, a]:
            continue
        c = children[b, p, a]
        if c < 0:
            score = c_base * sqrt_parent * prior[b, p, a]  # x / (0 + 1) == x exactly
        else:
            score = c_base * sqrt_parent / (visits[b, c] + 1) * prior[b, p, a]
            score += _normalize(min_max, b, q[b, c], params.min_span)  # a child exists only once visited
        if best < 0 or score > best_score:
            best = a
            best_score = score
    return best


@numba.njit(cache=True)
def select_puct(tree: tuple, params: tuple, leaves: tuple) -> None:
    """pUCT's selection step: descend every tree from its root to the first edge
    without a child, and record it in `leaves`. `tree`, `params` and `leaves` are a
    `Tree`, `PuctParams` and `Leaves` as plain tuples (see zeroplan.mcts.tree)."""
    tree, params, leaves = Tree(*tree), PuctParams(*params), Leaves(*leaves)
    children, visits, q, prior, min_max, legal = tree.children, tree.visits, tree.q, tree.prior, tree.min_max, \
        tree.legal
    chance = tree.chance
    for b in range(children.shape[0]):
        node = 0
        depth = 1
        while True:
            if chance[b, node]:
                a = chance_child(children, visits, prior, legal, b, node)
            else:
                a = _best_action(children, visits, q, prior, min_max, legal, b, node, params)
            nxt = children[b, node, a]
            if nxt < 0:
                break
            node = nxt
            depth += 1
        leaves.embeddings[b, :] = tree.embeddings[b, node, :]  # expand (node, a) next
        leaves.parent[b] = node
        leaves.action[b] = a
        leaves.depth_stats[0] += depth
        leaves.depth_stats[1] = max(leaves.depth_stats[1], depth)


def add_dirichlet_noise(prior: np.ndarray, legal: np.ndarray, alpha: float, fraction: float,
                        rng: np.random.Generator) -> None:
    """Mix Dirichlet(alpha) noise over each root's legal actions into prior [B, A] in place.

    A Dirichlet sample is a vector of Gamma(alpha) draws normalised to sum 1,
    which lets the whole batch be drawn in one call.
    """
    gammas = rng.standard_gamma(alpha, size=prior.shape) * legal
    total = gammas.sum(axis=1, keepdims=True)
    # With a tiny alpha every draw of a row can underflow to 0: fall back to uniform.
    uniform = legal / legal.sum(axis=1, keepdims=True)
    noise = np.where(total > 0, gammas / np.where(total > 0, total, 1.0), uniform)
    prior[:] = (1.0 - fraction) * prior + fraction * noise


def visit_count_actions(visit_counts: np.ndarray, temperature: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """Pick an action per root from its visit counts: argmax (lowest index on
    ties) where the temperature is 0, else sampled from counts ** (1 / T)."""
    actions = np.argmax(visit_counts, axis=1)
    hot = temperature > 0
    if hot.any():
        counts = visit_counts[hot].astype(np.float64)
        with np.errstate(divide="ignore"):
            logits = np.log(counts) / temperature[hot][:, None]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        cdf = np.cumsum(probs, axis=1)
        u = rng.random(len(probs))[:, None] * cdf[:, -1:]
        actions[hot] = np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1)
    return actions
