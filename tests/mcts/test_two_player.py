"""Two-player sign conventions, checked on games whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def _winner(cells: np.ndarray) -> int:
    for a, b, c in LINES:
        if cells[a] != 0 and cells[a] == cells[b] == cells[c]:
            return int(cells[a])
    return 0


def tictactoe_model(value_of_state=None):
    """A perfect tic-tac-toe model. Embedding: 9 cells (+1 X, -1 O), the mark to
    move, and a 'game over' flag. The reward goes to the player who moved: +1
    for a win, -1 for playing on an occupied cell. After the game ends the
    state is absorbing with reward 0."""

    def recurrent_fn(emb, actions):
        emb = emb.copy()
        rewards = np.zeros(len(actions))
        values = np.zeros(len(actions))
        for i, a in enumerate(actions):
            cells, mark, over = emb[i, :9], emb[i, 9], emb[i, 10]
            if over:
                continue
            if cells[a] != 0:
                rewards[i] = -1.0
                emb[i, 10] = 1
                continue
            cells[a] = mark
            if _winner(cells) == mark:
                rewards[i] = 1.0
                emb[i, 10] = 1
            elif (cells != 0).all():
                emb[i, 10] = 1
            emb[i, 9] = -mark
            if value_of_state is not None and not emb[i, 10]:
                values[i] = value_of_state(emb[i])
        return emb, rewards, values, np.zeros((len(actions), 9))

    return recurrent_fn


def tictactoe_root(x_cells, o_cells, to_move: str) -> SearchRoot:
    emb = np.zeros((1, 11), dtype=np.int64)
    emb[0, list(x_cells)] = 1
    emb[0, list(o_cells)] = -1
    emb[0, 9] = 1 if to_move == "x" else -1
    legal = emb[:, :9] == 0
    return SearchRoot(emb, np.zeros((1, 9)), np.zeros(1), legal, np.array([0 if to_move == "x" else 1]))


POSITIONS = [
    # (X cells, O cells, player to move, the only winning move)
    ((0, 1), (4, 8), "x", 2),  # win in 1
    ((0, 8), (4, 6), "x", 2),  # blocks O's threat and forks: win in 2 of X's moves
    ((4, 8), (0, 1), "o", 2),  # the same win in 1, for O
    ((4, 6), (0, 8), "o", 2),  # the fork, for O
]


@pytest.mark.parametrize("policy,sims", [("puct", 600), ("gumbel", 200)])
@pytest.mark.parametrize("x_cells,o_cells,to_move,best", POSITIONS)
def test_finds_forced_win_with_a_value_free_model(policy, sims, x_cells, o_cells, to_move, best):
    """The model's values are all 0: only search through the rewards (with their
    signs flipped at every ply) can find the win."""
    root = tictactoe_root(x_cells, o_cells, to_move)
    cfg = SearchConfig(policy=policy, num_simulations=sims, discount=1.0)
    out = search(root, tictactoe_model(), np.random.default_rng(0), cfg, num_players=2, temperature=0.0,
                 explore=False)
    assert out.actions[0] == best
    assert out.visit_counts[0, best] == out.visit_counts[0].max()
    assert out.policy_targets[0].argmax() == best
    if policy == "puct":
        # pUCT spends most simulations on the win, so the root's mean is
        # positive. (Gumbel's root value is not: sequential halving visits the
        # losing moves equally in its first phase by design.)
        assert out.root_values[0] > 0.3


def _minimax_tree(depth: int, actions: int, rng: np.random.Generator):
    """Random rewards on every edge of a complete game tree; values by minimax
    (negamax, since each player's reward is its own)."""
    rewards = {}
    for d in range(1, depth + 1):
        for path in itertools.product(range(actions), repeat=d):
            rewards[path] = float(rng.uniform(-1, 1))

    def negamax(path):
        if len(path) == depth:
            return 0.0
        return max(rewards[path + (a,)] - negamax(path + (a,)) for a in range(actions))

    return rewards, negamax


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_depth3_tree_with_perfect_values(seed, policy):
    """With the exact minimax value at each node, the root's chosen action and
    value are the minimax ones."""
    actions, depth = 3, 3
    rewards, negamax = _minimax_tree(depth, actions, np.random.default_rng(seed))
    paths = [()] + list(rewards)
    index = {p: i for i, p in enumerate(paths)}

    def recurrent_fn(emb, acts):
        nxt = np.empty_like(emb)
        r = np.zeros(len(acts))
        v = np.zeros(len(acts))
        for i, (e, a) in enumerate(zip(emb[:, 0], acts)):
            path = paths[e] if e >= 0 else None
            if path is None or len(path) == depth:  # past the end: absorbing
                nxt[i, 0] = -1
                continue
            child = path + (int(a),)
            nxt[i, 0] = index[child]
            r[i] = rewards[child]
            v[i] = negamax(child)
        return nxt, r, v, np.zeros((len(acts), actions))

    q_root = np.array([rewards[(a,)] - negamax((a,)) for a in range(actions)])
    root = SearchRoot(np.zeros((1, 1), dtype=np.int64), np.zeros((1, actions)), np.array([negamax(())]),
                      np.ones((1, actions), bool), np.zeros(1, dtype=int))
    out = search(root, recurrent_fn, np.random.default_rng(seed), SearchConfig(policy=policy, num_simulations=60,
                 discount=1.0), num_players=2, temperature=0.0, explore=False)
    assert out.actions[0] == int(np.argmax(q_root))
    # Each backed-up return is exact, so the root's mean is a visit-weighted mix
    # of the exact Q values (and the exact root value).
    lo, hi = min(q_root.min(), negamax(())), max(q_root.max(), negamax(()))
    assert lo - 1e-9 <= out.root_values[0] <= hi + 1e-9
