"""Reference tree search: slow, per-root, written to be obviously correct.

This module follows docs/search.md line by line, one root at a time, with
plain Python floats and the ``math`` module.  The fast batched engine in
``zeroplan.mcts`` is checked against it for bit-identical visit counts and
root values, so every floating-point expression below is written in exactly
the order the doc gives it (Python evaluates ``a * b / c`` as ``(a * b) / c``
and ``a + b + c`` as ``(a + b) + c``), sums are accumulated sequentially in
action order starting from ``0.0``, and every argmax takes the first (lowest
index) maximum.

The structure follows the MuZero paper's pseudocode (``Node``,
``MinMaxStats``, ``select_child``, ``ucb_score``, ``expand_node``,
``backpropagate``) plus the Gumbel MuZero pieces
(``considered_visits_schedule``, ``completed_q``, ``sigma`` and the root and
non-root Gumbel selection rules).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MinMaxStats",
    "Node",
    "backpropagate",
    "chance_select",
    "completed_q",
    "considered_visits_schedule",
    "expand_node",
    "gumbel_root_action",
    "gumbel_select_child",
    "improved_policy",
    "reference_search",
    "safe_log",
    "select_child",
    "sigma",
    "softmax",
    "ucb_score",
]


# ----------------------------------------------------------------------------
# Small numeric helpers
# ----------------------------------------------------------------------------


def safe_log(x: float) -> float:
    """``math.log`` with ``log(0) = -inf`` (a prior that underflowed to 0)."""
    if x == 0.0:
        return -math.inf
    return math.log(x)


def _first_argmax(values, candidates) -> int:
    """First (lowest index) maximum of ``values[a]`` over ``candidates`` (ascending)."""
    best_action = -1
    best_value = -math.inf
    for a in candidates:
        if best_action == -1 or values[a] > best_value:
            best_action = a
            best_value = values[a]
    if best_action == -1:
        raise ValueError("argmax over an empty candidate set")
    return best_action


def softmax(logits, mask=None) -> list[float]:
    """Softmax as in the doc: ``exp(l - max) / sum(exp(l - max))``.

    ``max`` and ``sum`` are over the actions where ``mask`` is true (all
    actions when ``mask`` is None); the sum is accumulated in action order.
    Masked-out actions get exactly 0.0.
    """
    n = len(logits)
    actions = [a for a in range(n) if mask is None or mask[a]]
    maximum = -math.inf
    for a in actions:
        if logits[a] > maximum:
            maximum = logits[a]
    exps = [0.0] * n
    total = 0.0
    for a in actions:
        exps[a] = math.exp(logits[a] - maximum)
        total = total + exps[a]
    probs = [0.0] * n
    for a in actions:
        probs[a] = exps[a] / total
    return probs


# ----------------------------------------------------------------------------
# Tree
# ----------------------------------------------------------------------------


class MinMaxStats:
    """Running min / max of the Q values seen in backups (pUCT only)."""

    def __init__(self, min_span: float = 0.0) -> None:
        self.maximum = -math.inf
        self.minimum = math.inf
        self.min_span = min_span  # the range divides by at least this (0: plain min-max)

    def update(self, q: float) -> None:
        self.maximum = max(self.maximum, q)
        self.minimum = min(self.minimum, q)

    def normalize(self, q: float) -> float:
        if self.maximum > self.minimum:
            return (q - self.minimum) / max(self.maximum - self.minimum, self.min_span)
        return q


class Node:
    def __init__(self, prior: float = 0.0) -> None:
        # The node's own prior as a child of its parent (paper pseudocode);
        # the prior over this node's actions lives in ``child_priors``.
        self.prior = prior
        self.to_play = 0
        self.reward = 0.0
        self.raw_value = 0.0
        self.visit_count = 0
        self.value_sum = 0.0
        self.children: dict[int, Node] = {}
        self.child_priors: list[float] = []
        self.legal: list[bool] = []  # the root's legal mask; below, the actions with a finite logit
        self.embedding = None
        self.parent: Node | None = None
        self.is_chance = False  # an afterstate (Stochastic MuZero): its children are chance codes

    def expanded(self) -> bool:
        """A node is expanded once the model has evaluated it (it has priors)."""
        return len(self.child_priors) > 0

    def value(self) -> float:
        """``value_sum / visits``, from the point of view of ``to_play``."""
        if self.visit_count == 0:
            return 0.0
        return self.value_sum / self.visit_count

    def child_visits(self, action: int) -> int:
        child = self.children.get(action)
        return 0 if child is None else child.visit_count


def edge_discount(child: Node, discount: float) -> float:
    """The edge into an afterstate is no step in time: it is not discounted."""
    return 1.0 if child.is_chance else discount


def q_value(parent: Node, child: Node, discount: float) -> float:
    """``Q(p, a) = reward[c] + discount * sign * value(c)`` from p's player's view."""
    sign = 1.0 if child.to_play == parent.to_play else -1.0
    return child.reward + edge_discount(child, discount) * sign * child.value()


def next_to_play(to_play: int, num_players: int) -> int:
    # Single-player: to_play never changes (even if the root's to_play is not 0).
    if num_players == 1:
        return to_play
    return (to_play + 1) % num_players


# ----------------------------------------------------------------------------
# Expansion and backup (both policies)
# ----------------------------------------------------------------------------


def expand_node(parent: Node, action: int, embedding, reward: float, value: float,
                logits, num_players: int, is_chance: bool = False) -> Node:
    """Create the child of ``parent`` through ``action`` from one model output;
    ``is_chance``: the child is an afterstate (the acting player stays to move)."""
    child = Node(prior=parent.child_priors[action])
    child.parent = parent
    child.embedding = embedding
    child.reward = reward
    child.raw_value = value
    child.is_chance = is_chance
    child.to_play = parent.to_play if is_chance else next_to_play(parent.to_play, num_players)
    # A model that knows the rules (a search over copies of the real game) gives
    # illegal actions a logit of -inf; a learned model's logits are all finite.
    child.legal = [math.isfinite(float(x)) for x in logits]
    child.child_priors = softmax([float(x) for x in logits], child.legal)
    parent.children[action] = child
    return child


def backpropagate(leaf: Node, value: float, discount: float, min_max: MinMaxStats | None) -> None:
    """The doc's backup loop; ``min_max`` is None for the Gumbel policy."""
    n = leaf
    g = value
    while True:
        n.value_sum += g
        n.visit_count += 1
        p = n.parent
        if p is None:  # n is the root
            return
        sign = 1.0 if n.to_play == p.to_play else -1.0
        d = edge_discount(n, discount)
        if min_max is not None:
            min_max.update(n.reward + d * sign * n.value())
        g = n.reward + d * sign * g
        n = p


# ----------------------------------------------------------------------------
# MuZero pUCT
# ----------------------------------------------------------------------------


def ucb_score(parent: Node, action: int, min_max: MinMaxStats, discount: float,
              pb_c_init: float, pb_c_base: float) -> float:
    n_parent = parent.visit_count
    child = parent.children.get(action)
    n_child = 0 if child is None else child.visit_count
    c = math.log((n_parent + pb_c_base + 1) / pb_c_base) + pb_c_init
    c = c * math.sqrt(n_parent) / (n_child + 1)
    if child is not None and child.visit_count > 0:
        return c * parent.child_priors[action] + min_max.normalize(q_value(parent, child, discount))
    return c * parent.child_priors[action] + 0.0


def select_child(node: Node, actions, min_max: MinMaxStats, discount: float,
                 pb_c_init: float, pb_c_base: float) -> int:
    """First highest pUCT score over ``actions`` (the node's legal actions)."""
    scores = {a: ucb_score(node, a, min_max, discount, pb_c_init, pb_c_base) for a in actions}
    return _first_argmax(scores, actions)


def chance_select(node: Node) -> int:
    """At an afterstate: the first code with the highest ``prior / (visits + 1)``
    (Stochastic MuZero's quasi-random sampling of the outcome)."""
    codes = [c for c in range(len(node.child_priors)) if node.legal[c]]
    scores = {c: node.child_priors[c] / (node.child_visits(c) + 1) for c in codes}
    return _first_argmax(scores, codes)


# ----------------------------------------------------------------------------
# Gumbel MuZero
# ----------------------------------------------------------------------------


def considered_visits_schedule(m: int, num_simulations: int) -> list[int]:
    """Sequential halving: the visit count the action visited at simulation s must have.

    Phases consider ``k = m``, then ``max(2, k // 2)``, ... actions; a phase
    gives each of its ``k`` actions ``max(1, floor(S / (log2m * k)))`` more
    visits, round-robin.  The actions kept in a phase all have the same visit
    count when it starts (they all got the same visits so far), so a phase
    contributes rounds ``v, v, ..., v`` (k times), ``v+1`` (k times), ...
    """
    s_total = num_simulations
    if m == 1:
        return list(range(s_total))
    log2m = math.ceil(math.log2(m))
    schedule: list[int] = []
    visits = [0] * m  # visits[i]: visits so far of the i-th best considered action
    k = m
    while len(schedule) < s_total:
        extra = max(1, s_total // (log2m * k))
        for _ in range(extra):
            for i in range(k):
                schedule.append(visits[i])
                visits[i] += 1
        k = max(2, k // 2)
    return schedule[:s_total]


def completed_q(node: Node, legal_mask, discount: float, min_span: float = 0.0) -> list[float]:
    """Normalised completed Q over the actions (``legal_mask`` at the root, None below).

    Entries for illegal actions are 0.0 and must not be used.
    """
    num_actions = len(node.child_priors)
    actions = [a for a in range(num_actions) if legal_mask is None or legal_mask[a]]
    q = raw_completed_q(node, legal_mask, discount)
    q_min = min(q[a] for a in actions)
    q_max = max(q[a] for a in actions)
    scale = max(q_max - q_min, min_span, 1e-8)
    out = [0.0] * num_actions
    for a in actions:
        out[a] = (q[a] - q_min) / scale
    return out


def raw_completed_q(node: Node, legal_mask, discount: float) -> list[float]:
    """Completed Q before normalisation: Q(p, a) for visited actions, v_mix for the rest."""
    num_actions = len(node.child_priors)
    actions = [a for a in range(num_actions) if legal_mask is None or legal_mask[a]]
    visited = [a for a in actions if node.child_visits(a) > 0]
    n_sum = 0
    for a in visited:
        n_sum += node.children[a].visit_count
    if n_sum == 0:
        v_mix = node.raw_value
    else:
        sum_pq = 0.0
        sum_p = 0.0
        for a in visited:
            sum_pq = sum_pq + node.child_priors[a] * q_value(node, node.children[a], discount)
            sum_p = sum_p + node.child_priors[a]
        # "The weighted sum is accumulated in action order as sum prior*Q, then
        # divided by sum prior": the weighted mean first, then times Nsum.
        weighted_q = sum_pq / sum_p
        v_mix = (node.raw_value + n_sum * weighted_q) / (1 + n_sum)
    q = [0.0] * num_actions
    for a in actions:
        q[a] = q_value(node, node.children[a], discount) if a in visited else v_mix
    return q


def sigma(node: Node, q: list[float], legal_mask, c_visit: float, c_scale: float) -> list[float]:
    """``(c_visit + max_a visits[child a]) * c_scale * q``."""
    num_actions = len(node.child_priors)
    actions = [a for a in range(num_actions) if legal_mask is None or legal_mask[a]]
    max_visits = max(node.child_visits(a) for a in actions)
    out = [0.0] * num_actions
    for a in actions:
        out[a] = (c_visit + max_visits) * c_scale * q[a]
    return out


def _gumbel_root_scores(root: Node, legal_mask, gumbel, discount, c_visit, c_scale, min_span=0.0) -> list[float]:
    """``g[a] + log(prior[root, a]) + sigma(completed_q)[a]`` for legal a (else -inf)."""
    num_actions = len(root.child_priors)
    s = sigma(root, completed_q(root, legal_mask, discount, min_span), legal_mask, c_visit, c_scale)
    scores = [-math.inf] * num_actions
    for a in range(num_actions):
        if legal_mask[a]:
            scores[a] = gumbel[a] + safe_log(root.child_priors[a]) + s[a]
    return scores


def gumbel_root_select(root: Node, legal_mask, gumbel, considered_visits: int, discount: float,
                       c_visit: float, c_scale: float, min_span: float = 0.0) -> int:
    """Among legal actions whose child has exactly ``considered_visits`` visits, the first max score."""
    scores = _gumbel_root_scores(root, legal_mask, gumbel, discount, c_visit, c_scale, min_span)
    candidates = [a for a in range(len(root.child_priors))
                  if legal_mask[a] and root.child_visits(a) == considered_visits]
    return _first_argmax(scores, candidates)


def improved_policy(node: Node, legal_mask, discount: float, c_visit: float, c_scale: float,
                    min_span: float = 0.0) -> list[float]:
    """``softmax(log(prior) + sigma(completed_q))`` over the (legal) actions; illegal 0."""
    num_actions = len(node.child_priors)
    s = sigma(node, completed_q(node, legal_mask, discount, min_span), legal_mask, c_visit, c_scale)
    logits = [0.0] * num_actions
    for a in range(num_actions):
        if legal_mask is None or legal_mask[a]:
            logits[a] = safe_log(node.child_priors[a]) + s[a]
    return softmax(logits, legal_mask)


def gumbel_select_child(node: Node, discount: float, c_visit: float, c_scale: float, min_span: float = 0.0) -> int:
    """Below the root: first max of ``pi'(a) - visits[child a] / (1 + Nsum)`` over the legal actions."""
    num_actions = len(node.child_priors)
    pi = improved_policy(node, node.legal, discount, c_visit, c_scale, min_span)
    n_sum = 0
    for a in range(num_actions):
        n_sum += node.child_visits(a)
    scores = [pi[a] - node.child_visits(a) / (1 + n_sum) for a in range(num_actions)]
    return _first_argmax(scores, [a for a in range(num_actions) if node.legal[a]])


def gumbel_root_action(root: Node, legal_mask, gumbel, discount: float, c_visit: float,
                       c_scale: float, min_span: float = 0.0) -> int:
    """Among legal actions with the largest visit count, the first max of the root score."""
    legal = [a for a in range(len(root.child_priors)) if legal_mask[a]]
    most = max(root.child_visits(a) for a in legal)
    candidates = [a for a in legal if root.child_visits(a) == most]
    scores = _gumbel_root_scores(root, legal_mask, gumbel, discount, c_visit, c_scale, min_span)
    return _first_argmax(scores, candidates)


# ----------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------


def reference_search(embedding, prior_logits, value, legal_mask, to_play, recurrent_fn, *,
                     policy, num_simulations, discount, num_players, pb_c_init=1.25,
                     pb_c_base=19652.0, max_num_considered_actions=16, gumbel=None,
                     c_visit=50.0, c_scale=0.1, noise=None, dirichlet_fraction=0.25, min_value_span=0.0,
                     chance_codes=0) -> dict:
    """Search one root; see docs/search.md.  Returns visit_counts, root_value,
    policy_target, action (temperature 0 for pUCT) and depths.

    With ``chance_codes`` C > 0 every action leads to an afterstate whose children
    are C chance codes; ``recurrent_fn(emb, edge, from_chance)`` then answers both
    kinds of expansion, its logits read over C columns for a new afterstate and
    over A for a new state."""
    if policy not in ("puct", "gumbel"):
        raise ValueError(f"unknown policy {policy!r}")
    num_actions = len(prior_logits)
    legal = [bool(x) for x in np.asarray(legal_mask).reshape(-1)]
    if len(legal) != num_actions or not any(legal):
        raise ValueError("legal_mask must have one entry per action and at least one legal action")
    logits = [float(x) for x in np.asarray(prior_logits).reshape(-1)]
    g = [0.0] * num_actions if gumbel is None else [float(x) for x in np.asarray(gumbel).reshape(-1)]

    # Root initialisation.
    root = Node(prior=1.0)
    root.embedding = np.asarray(embedding)
    root.to_play = int(to_play)
    root.raw_value = float(value)
    root.child_priors = softmax(logits, legal)
    root.legal = legal
    if policy == "puct" and noise is not None:
        f = float(dirichlet_fraction)
        for a in range(num_actions):
            if legal[a]:
                root.child_priors[a] = (1 - f) * root.child_priors[a] + f * float(noise[a])
    root.visit_count = 1
    root.value_sum = float(value)

    min_max = MinMaxStats(min_value_span) if policy == "puct" else None
    legal_actions = [a for a in range(num_actions) if legal[a]]
    if policy == "gumbel":
        m = min(max_num_considered_actions, len(legal_actions))
        schedule = considered_visits_schedule(m, num_simulations)

    depths: list[int] = []
    for s in range(num_simulations):
        node = root
        depth = 0
        while True:
            if node.is_chance:
                action = chance_select(node)
            elif policy == "puct":
                actions = [a for a in range(num_actions) if node.legal[a]]
                action = select_child(node, actions, min_max, discount, pb_c_init, pb_c_base)
            elif node is root:
                action = gumbel_root_select(root, legal, g, schedule[s], discount, c_visit, c_scale, min_value_span)
            else:
                action = gumbel_select_child(node, discount, c_visit, c_scale, min_value_span)
            depth += 1
            if action not in node.children:
                break
            node = node.children[action]
        if chance_codes:
            next_emb, rewards, values, next_logits = recurrent_fn(node.embedding[None], np.array([action]),
                                                                  np.array([node.is_chance]))
            width = num_actions if node.is_chance else chance_codes
            next_logits = np.asarray(next_logits)[:, :width]
        else:
            next_emb, rewards, values, next_logits = recurrent_fn(node.embedding[None], np.array([action]))
        leaf = expand_node(node, action, np.asarray(next_emb)[0], float(np.asarray(rewards)[0]),
                           float(np.asarray(values)[0]), np.asarray(next_logits)[0], num_players,
                           is_chance=bool(chance_codes) and not node.is_chance)
        backpropagate(leaf, leaf.raw_value, discount, min_max)
        depths.append(depth)

    visit_counts = [root.child_visits(a) for a in range(num_actions)]
    if policy == "puct":
        policy_target = [visit_counts[a] / num_simulations for a in range(num_actions)]
        action = _first_argmax(visit_counts, legal_actions)  # temperature 0
    else:
        policy_target = improved_policy(root, legal, discount, c_visit, c_scale, min_value_span)
        action = gumbel_root_action(root, legal, g, discount, c_visit, c_scale, min_value_span)
    visited = [a for a in legal_actions if root.child_visits(a) > 0]
    completed = raw_completed_q(root, legal, discount)
    return {
        "visit_counts": np.array(visit_counts, dtype=np.int64),
        "root_value": root.value(),
        # search.root_value 'max_q' and 'improved' (Gumbel: the improved policy's expected completed Q)
        "root_max_q": max(q_value(root, root.children[a], discount) for a in visited),
        "root_improved_value": sum(policy_target[a] * completed[a] for a in legal_actions),
        "policy_target": np.array(policy_target, dtype=np.float64),
        "action": int(action),
        "depths": depths,
    }


# ----------------------------------------------------------------------------
# Sampled MuZero: K sampled actions per node (zeroplan.mcts.sampled)
# ----------------------------------------------------------------------------


def reference_sampled_search(embedding, policy_params, value, to_play, recurrent_fn, sampler, **kwargs) -> dict:
    """One root of a Sampled MuZero search, written over `reference_search`: every
    node's children are the K samples `sampler` draws from that node's policy
    parameters (the root's `policy_params`, below it what `recurrent_fn` returns),
    searched with the sampler's prior logits; an edge is given the sampler's
    action input for its sample. `sampler` must be deterministic in its
    parameters (it is called with rng=None), so that the order in which the
    batched engine draws cannot matter. Nodes are told apart by their
    embeddings, which the toy models make unique per path. Returns
    `reference_search`'s dict plus the root's codes."""
    codes_at: dict[bytes, np.ndarray] = {}
    root_codes, root_logits = sampler.sample(np.asarray(policy_params)[None], None, None)
    codes_at[np.asarray(embedding).tobytes()] = root_codes[0]

    def sampled_fn(emb, child):
        code = codes_at[np.asarray(emb[0]).tobytes()][int(child[0])]
        nxt, rewards, values, params = recurrent_fn(emb, sampler.inputs(code[None]))
        codes, logits = sampler.sample(np.asarray(params), None, None)
        codes_at[np.asarray(nxt[0]).tobytes()] = codes[0]
        return nxt, rewards, values, logits

    legal = np.isfinite(root_logits[0])
    out = reference_search(embedding, root_logits[0], value, legal, to_play, sampled_fn, **kwargs)
    out["codes"] = root_codes[0]
    return out
