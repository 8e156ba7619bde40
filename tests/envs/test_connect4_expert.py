"""The connect-four alpha-beta expert: exact against a plain minimax, tactically
sound (wins and blocks in one), strong against random play, always legal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import connect4_minimax as ref
from zeroplan.envs.alphabeta import NO_MOVE, position, root_scores
from zeroplan.envs.experts import (CONNECT4_DEFAULT_DEPTH, ConnectFourAlphaBeta, RandomExpert,
                                   TicTacToeMinimax, make_opponent)
from zeroplan.envs.games.connect4 import Connect4


def play(columns) -> Connect4:
    env = Connect4()
    env.reset()
    for c in columns:
        env.step(c)
    return env


def random_position(rng: np.random.Generator, plies: int) -> Connect4 | None:
    env = play([])
    for _ in range(plies):
        env.step(int(rng.choice(np.flatnonzero(env.legal_mask()))))
        if env.is_over():
            return None
    return env


def run_game(players, rng) -> int:
    env = play([])
    while not env.is_over():
        env.step(players[env.to_play()].act(env, rng))
    return env.winner()


@pytest.mark.parametrize("depth, positions", [(1, 30), (2, 20), (3, 8)])
def test_root_scores_equal_plain_minimax(depth, positions):
    rng = np.random.default_rng(depth)
    checked = 0
    while checked < positions:
        env = random_position(rng, int(rng.integers(0, 30)))
        if env is None:
            continue
        me = env.to_play() + 1
        mine, theirs, heights = position(env.board(), env.to_play())
        fast = root_scores(mine, theirs, heights, depth).tolist()
        slow = ref.move_scores(env.board(), me, depth)
        assert fast == [NO_MOVE if s is None else s for s in slow]
        checked += 1


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_takes_a_win_in_one(depth):
    # X has three on the bottom row (0, 1, 2) and O has three in column 6: X wins at 3.
    env = play([0, 6, 1, 6, 2, 6])
    rng = np.random.default_rng(0)
    assert {ConnectFourAlphaBeta(depth).act(env, rng) for _ in range(10)} == {3}


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_blocks_a_loss_in_one(depth):
    # O threatens four in column 6; X, to move, has nothing faster and must block there.
    env = play([0, 6, 1, 6, 5, 6])
    rng = np.random.default_rng(0)
    assert {ConnectFourAlphaBeta(depth).act(env, rng) for _ in range(10)} == {6}


def test_prefers_winning_to_blocking():
    # Both sides threaten to complete a row; the mover finishes its own.
    env = play([0, 0, 1, 1, 2, 2])  # X: 0,1,2 bottom; O: 0,1,2 second row; X to move
    assert ConnectFourAlphaBeta(2).act(env, np.random.default_rng(0)) == 3


def test_depth_two_sees_the_open_three():
    # X can make an open three (_ X X X _) on the bottom row, a win next move either way.
    env = play([2, 2, 3, 3])
    scores = ConnectFourAlphaBeta(3).scores(env)
    assert scores.argmax() in (1, 4) and scores.max() > 1 << 19


def test_breaks_ties_at_random():
    # Mirror-image positions give mirror-image scores; at depth 3 after 3, 3 the
    # columns 2 and 4 tie for best, and the expert must play both.
    for moves in ([], [3], [3, 3]):
        scores = ConnectFourAlphaBeta(3).scores(play(moves))
        assert (scores == scores[::-1]).all()
    env = play([3, 3])
    expert = ConnectFourAlphaBeta(3)
    scores = expert.scores(env)
    assert set(np.flatnonzero(scores == scores.max()).tolist()) == {2, 4}
    rng = np.random.default_rng(7)
    picks = [expert.act(env, rng) for _ in range(40)]
    assert set(picks) == {2, 4} and 8 <= picks.count(2) <= 32


@pytest.mark.parametrize("seat", [0, 1])
def test_depth_two_beats_random(seat):
    rng = np.random.default_rng(10 + seat)
    players = [RandomExpert(), RandomExpert()]
    players[seat] = ConnectFourAlphaBeta(2)
    results = [run_game(players, rng) for _ in range(20)]
    assert results.count(seat) >= 19


def test_deeper_search_beats_shallower_more_often_than_not():
    rng = np.random.default_rng(3)
    deep, shallow = ConnectFourAlphaBeta(4), ConnectFourAlphaBeta(1)
    wins = losses = 0
    for g in range(20):
        seat = g % 2
        players = [shallow, shallow]
        players[seat] = deep
        w = run_game(players, rng)
        wins += w == seat
        losses += w == 1 - seat
    assert wins > 2 * losses


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=41), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_chosen_move_is_always_legal(choices, depth, seed):
    env = play([])
    for pick in choices:
        legal = np.flatnonzero(env.legal_mask())
        env.step(int(legal[pick % legal.size]))
        if env.is_over():
            break
    expert = ConnectFourAlphaBeta(depth)
    if env.is_over():
        with pytest.raises(ValueError, match="over"):
            expert.act(env, np.random.default_rng(seed))
        return
    action = expert.act(env, np.random.default_rng(seed))
    assert env.legal_mask()[action]


def test_make_opponent_names():
    assert isinstance(make_opponent("random", "connect4"), RandomExpert)
    expert = make_opponent("expert", "connect4")
    assert isinstance(expert, ConnectFourAlphaBeta) and expert.depth == CONNECT4_DEFAULT_DEPTH
    assert make_opponent("alphabeta:6", "connect4").depth == 6
    assert isinstance(make_opponent("expert", "tictactoe"), TicTacToeMinimax)
    for bad in ("alphabeta:0", "alphabeta:x", "alphabeta:"):
        with pytest.raises(ValueError, match="depth"):
            make_opponent(bad, "connect4")
    with pytest.raises(ValueError, match="connect4"):
        make_opponent("alphabeta:3", "tictactoe")
    with pytest.raises(ValueError, match="random"):
        make_opponent("minimax", "connect4")
    with pytest.raises(ValueError):
        ConnectFourAlphaBeta(0)
