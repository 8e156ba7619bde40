"""Gumbel MuZero (Danihelka et al., ICLR 2022).

At the root: Gumbel-top-k sampling without replacement and sequential halving,
expressed as a schedule of the visit count an action must have to be visited at
each simulation. Below the root: deterministic selection that makes visit
counts track the improved policy. The improved policy itself,
softmax(log prior + sigma(completed Q)), is the policy target. This guarantees
a policy improvement in expectation even with 2 simulations, where pUCT's
visit counts say almost nothing.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numba
import numpy as np

from zeroplan.mcts.tree import Leaves, Tree, chance_child

_RESCALE_EPS = 1e-8


@lru_cache(maxsize=256)
def considered_visits(num_considered: int, num_simulations: int) -> tuple[int, ...]:
    """For each simulation, the visit count a root action must have to be picked.

    Sequential halving: phases of k = m, max(2, k // 2), ... actions; a phase
    gives each of its actions max(1, S // (ceil(log2 m) * k)) more visits,
    round-robin.
    """
    if num_considered <= 1:
        return tuple(range(num_simulations))
    log2m = math.ceil(math.log2(num_considered))
    schedule: list[int] = []
    visits = [0] * num_considered
    k = num_considered
    while len(schedule) < num_simulations:
        extra = max(1, num_simulations // (log2m * k))
        for _ in range(extra):
            schedule.extend(visits[:k])
            for i in range(k):
                visits[i] += 1
        k = max(2, k // 2)
    return tuple(schedule[:num_simulations])


def considered_visit_table(max_considered: int, num_simulations: int) -> np.ndarray:
    """int32 [max_considered + 1, S]: row m is the schedule for m considered actions."""
    table = np.zeros((max_considered + 1, num_simulations), dtype=np.int32)
    for m in range(1, max_considered + 1):
        table[m] = considered_visits(m, num_simulations)
    return table


class GumbelParams(NamedTuple):
    c_visit: float
    c_scale: float
    min_span: float  # search.min_value_span


@numba.njit(cache=True, inline="always")
def completed_sigma(children: np.ndarray, visits: np.ndarray, q: np.ndarray, prior: np.ndarray, raw_value: np.ndarray,
                    legal: np.ndarray, b: int, p: int, params: GumbelParams, out: np.ndarray) -> float:
    """Write sigma(completed Q) of node p's actions to `out`; return the sum of its children's visits.

    Unvisited actions are completed with v_mix, the network's value of p mixed
    with the prior-weighted Q of the visited ones. Illegal actions (`legal` is
    the tree's [B, N, A]) are left out of the min/max rescaling and get 0.
    """
    n_sum = 0
    n_max = 0
    weighted = 0.0
    prob_visited = 0.0
    lo = np.inf
    hi = -np.inf
    any_unvisited = False
    for a in range(children.shape[2]):
        if not legal[b, p, a]:
            out[a] = np.nan  # marks "left out" until the last pass
            continue
        c = children[b, p, a]
        if c >= 0:  # a child exists only once visited
            qa = q[b, c]
            out[a] = qa
            lo = min(lo, qa)
            hi = max(hi, qa)
            n_sum += visits[b, c]
            n_max = max(n_max, visits[b, c])
            weighted += prior[b, p, a] * qa
            prob_visited += prior[b, p, a]
        else:
            out[a] = np.inf  # marks "unvisited"
            any_unvisited = True
    if n_sum == 0:
        v_mix = raw_value[b, p]
    else:
        v_mix = (raw_value[b, p] + n_sum * (weighted / prob_visited)) / (1 + n_sum)
    if any_unvisited:
        lo = min(lo, v_mix)
        hi = max(hi, v_mix)
    _rescale(out, lo, hi, v_mix, (params.c_visit + n_max) * params.c_scale, params.min_span)
    return n_sum


@numba.njit(cache=True, inline="always")
def _rescale(out: np.ndarray, lo: float, hi: float, v_mix: float, scale: float, min_span: float) -> None:
    """The last pass of `completed_sigma`: complete, min-max rescale, scale."""
    span = max(hi - lo, min_span, _RESCALE_EPS)
    for a in range(out.shape[0]):
        qa = out[a]
        if qa != qa:  # an illegal action
            out[a] = 0.0
        else:
            out[a] = scale * (((v_mix if qa == np.inf else qa) - lo) / span)


@numba.njit(cache=True, inline="always")
def _child_visits(children: np.ndarray, visits: np.ndarray, b: int, p: int, a: int) -> int:
    c = children[b, p, a]
    return visits[b, c] if c >= 0 else 0


@numba.njit(cache=True)
def select_gumbel(tree: tuple, gumbel: np.ndarray, considered_visit: np.ndarray, params: tuple,
                  leaves: tuple) -> None:
    """Gumbel MuZero's selection step: fill `leaves` with the edge each tree expands next.

    Root: sequential halving over Gumbel-top-k, `considered_visit` [B] being this
    simulation's entry of the schedule; below: match the improved policy.
    `tree`, `params` and `leaves` are a `Tree`, `GumbelParams` and `Leaves` as
    plain tuples (see zeroplan.mcts.tree)."""
    tree, params, leaves = Tree(*tree), GumbelParams(*params), Leaves(*leaves)
    children, visits, q, prior, log_prior, raw_value, legal = tree.children, tree.visits, tree.q, tree.prior, \
        tree.log_prior, tree.raw_value, tree.legal
    chance = tree.chance
    num_actions = children.shape[2]
    sigma = np.empty(num_actions)
    for b in range(children.shape[0]):
        completed_sigma(children, visits, q, prior, raw_value, legal, b, 0, params, sigma)
        a = -1
        best = -np.inf
        for i in range(num_actions):
            if not legal[b, 0, i] or _child_visits(children, visits, b, 0, i) != considered_visit[b]:
                continue
            score = gumbel[b, i] + log_prior[b, 0, i] + sigma[i]
            if a < 0 or score > best:
                a = i
                best = score
        node = 0
        depth = 1
        while children[b, node, a] >= 0:
            node = children[b, node, a]
            depth += 1
            if chance[b, node]:
                a = chance_child(children, visits, prior, legal, b, node)
                continue
            n_sum = completed_sigma(children, visits, q, prior, raw_value, legal, b, node, params, sigma)
            a = _nonroot_action(children, visits, log_prior, legal, b, node, n_sum, sigma)
        leaves.embeddings[b, :] = tree.embeddings[b, node, :]  # expand (node, a) next
        leaves.parent[b] = node
        leaves.action[b] = a
        leaves.depth_stats[0] += depth
        leaves.depth_stats[1] = max(leaves.depth_stats[1], depth)


@numba.njit(cache=True, inline="always")
def _nonroot_action(children: np.ndarray, visits: np.ndarray, log_prior: np.ndarray, legal: np.ndarray, b: int,
                    p: int, n_sum: int, sigma: np.ndarray) -> int:
    """Below the root: the legal action that brings node p's visits closest to the
    improved policy, given sigma(completed Q) of its actions (overwritten)."""
    num_actions = children.shape[2]
    # pi' = softmax(log prior + sigma) over the legal actions, computed in place in `sigma`.
    top = -np.inf
    for a in range(num_actions):
        sigma[a] = log_prior[b, p, a] + sigma[a]
        if legal[b, p, a] and sigma[a] > top:
            top = sigma[a]
    total = 0.0
    for a in range(num_actions):
        sigma[a] = math.exp(sigma[a] - top) if legal[b, p, a] else 0.0
        total += sigma[a]
    best = -1
    best_score = -np.inf
    for a in range(num_actions):
        if not legal[b, p, a]:
            continue
        n = _child_visits(children, visits, b, p, a)
        score = sigma[a] / total - n / (1.0 + n_sum)
        if best < 0 or score > best_score:
            best = a
            best_score = score
    return best


@numba.njit(cache=True)
def root_improved_policy(tree: tuple, gumbel: np.ndarray, params: tuple, out_policy: np.ndarray,
                         out_action: np.ndarray) -> None:
    """Policy targets softmax(log prior + sigma(completed Q)) over legal actions, and
    the action: the best g + log prior + sigma among the most visited. `tree` and
    `params` are a `Tree` and `GumbelParams` as plain tuples."""
    tree, params = Tree(*tree), GumbelParams(*params)
    children, visits, log_prior, tree_legal = tree.children, tree.visits, tree.log_prior, tree.legal
    legal = tree_legal[:, 0, :]
    num_actions = children.shape[2]
    sigma = np.empty(num_actions)
    for b in range(children.shape[0]):
        completed_sigma(children, visits, tree.q, tree.prior, tree.raw_value, tree_legal, b, 0, params, sigma)
        most = 0
        for a in range(num_actions):
            if legal[b, a]:
                most = max(most, _child_visits(children, visits, b, 0, a))
        top = -np.inf
        chosen = -1
        chosen_score = -np.inf
        for a in range(num_actions):
            if not legal[b, a]:
                out_policy[b, a] = -np.inf
                continue
            lp = log_prior[b, 0, a]
            logit = lp + sigma[a]
            out_policy[b, a] = logit
            if logit > top:
                top = logit
            if _child_visits(children, visits, b, 0, a) == most:
                score = gumbel[b, a] + lp + sigma[a]
                if chosen < 0 or score > chosen_score:
                    chosen = a
                    chosen_score = score
        _normalise_exp(out_policy[b], legal[b], top)
        out_action[b] = chosen


@numba.njit(cache=True, inline="always")
def _normalise_exp(logits: np.ndarray, legal: np.ndarray, top: float) -> None:
    """logits -> softmax in place, given their maximum `top`; illegal actions get 0."""
    total = 0.0
    for a in range(logits.shape[0]):
        logits[a] = math.exp(logits[a] - top) if legal[a] else 0.0
        total += logits[a]
    for a in range(logits.shape[0]):
        logits[a] = logits[a] / total
