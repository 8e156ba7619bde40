"""Tic-tac-toe rules and the experts that evaluate agents on it.

The minimax expert is checked against a plain, unmemoised negamax written here
(slow but obviously correct), and by play: it never loses, and it varies.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroplan.envs.experts import RandomExpert, TicTacToeMinimax, optimal_actions, value
from zeroplan.envs.games.tictactoe import LINES, TicTacToe
from zeroplan.envs.spec import EnvSpec, TurnBasedEnv


def board_of(x=(), o=()) -> np.ndarray:
    b = np.zeros(9, dtype=np.int8)
    b[list(x)] = 1
    b[list(o)] = 2
    return b


def play(moves) -> tuple[TicTacToe, list[tuple[np.ndarray, float, bool, bool]]]:
    env = TicTacToe()
    env.reset()
    return env, [env.step(a) for a in moves]


def no_line(cells) -> bool:
    return not any(set(line) <= set(cells) for line in LINES)


def interleave(first, second):
    out = []
    for i, a in enumerate(first):
        out.append(a)
        if i < len(second):
            out.append(second[i])
    return out


# --- the contract ------------------------------------------------------------------------

def test_spec_and_protocol():
    env = TicTacToe()
    assert isinstance(env, TurnBasedEnv)
    assert env.spec == EnvSpec(obs_shape=(3, 3, 3), num_actions=9, num_players=2, name="tictactoe")
    obs = env.reset(seed=123)
    assert obs.shape == (3, 3, 3) and obs.dtype == np.float32
    assert env.legal_mask().dtype == bool and env.legal_mask().all()
    assert env.to_play() == 0 and env.winner() == -1


@pytest.mark.parametrize("bad", [dict(num_players=3), dict(num_actions=0)])
def test_env_spec_rejects_nonsense(bad):
    kwargs = dict(obs_shape=(4,), num_actions=2, num_players=1) | bad
    with pytest.raises(ValueError):
        EnvSpec(**kwargs)


# --- rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("line", LINES)
def test_first_player_wins_on_every_line(line):
    others = next(c for c in itertools.combinations(set(range(9)) - set(line), 2))
    env, steps = play(interleave(list(line), list(others)))
    for _, reward, term, trunc in steps[:-1]:
        assert reward == 0.0 and not term and not trunc
    _, reward, term, trunc = steps[-1]
    assert reward == 1.0 and term and not trunc
    assert env.winner() == 0
    assert not env.legal_mask().any()


@pytest.mark.parametrize("line", LINES)
def test_second_player_wins_on_every_line(line):
    rest = set(range(9)) - set(line)
    xs = next(c for c in itertools.combinations(sorted(rest), 3) if no_line(c))
    env, steps = play(interleave(list(xs), list(line)))
    assert len(steps) == 6
    _, reward, term, _ = steps[-1]
    assert reward == 1.0 and term and env.winner() == 1
    assert all(r == 0.0 and not t for _, r, t, _ in steps[:-1])


def test_draw_on_full_board():
    env, steps = play([0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert all(r == 0.0 for _, r, _, _ in steps)
    assert [t for _, _, t, _ in steps] == [False] * 8 + [True]
    assert env.winner() == -1 and env.is_over()
    assert not env.legal_mask().any()
    with pytest.raises(ValueError, match="over"):
        env.step(0)


def test_illegal_moves_raise():
    env, _ = play([4])
    with pytest.raises(ValueError, match="illegal action 4"):
        env.step(4)
    with pytest.raises(ValueError, match="out of range"):
        env.step(9)
    with pytest.raises(ValueError, match="out of range"):
        env.step(-1)
    with pytest.raises(ValueError, match="integer"):
        env.step(1.5)
    assert env.to_play() == 1  # a rejected move changes nothing
    env.step(np.int64(0))  # numpy integers are fine
    env, _ = play([0, 3, 1, 4, 2])
    with pytest.raises(ValueError, match="won by player 0"):
        env.step(5)


def test_to_play_alternates_and_board_tracks_stones():
    env = TicTacToe()
    env.reset()
    for i, a in enumerate([4, 0, 8, 2]):
        assert env.to_play() == i % 2
        env.step(a)
    assert env.to_play() == 0
    assert env.board().tolist() == [2, 0, 2, 0, 1, 0, 0, 0, 1]
    assert env.board().dtype == np.int8
    assert env.legal_mask().tolist() == [False, True, False, True, False, True, True, True, False]


def test_observation_planes_from_the_movers_view():
    env = TicTacToe()
    obs = env.reset()
    np.testing.assert_array_equal(obs[2], np.ones((3, 3)))
    obs, *_ = env.step(4)  # X in the centre; now O (player 1) is to move
    np.testing.assert_array_equal(obs[0], np.zeros((3, 3)))
    np.testing.assert_array_equal(obs[1], board_of(x=[4]).reshape(3, 3) == 1)
    np.testing.assert_array_equal(obs[2], np.zeros((3, 3)))
    obs, *_ = env.step(0)  # O in the corner; X to move again
    assert obs[0, 1, 1] == 1.0 and obs[0].sum() == 1.0
    assert obs[1, 0, 0] == 1.0 and obs[1].sum() == 1.0
    np.testing.assert_array_equal(obs[2], np.ones((3, 3)))
    obs[0] = 9.0  # the caller owns its copy
    assert env.step(8)[0][1, 1, 1] == 1.0


def test_reset_clears_a_finished_game():
    env, _ = play([0, 3, 1, 4, 2])
    env.reset()
    assert env.board().tolist() == [0] * 9 and env.winner() == -1 and env.to_play() == 0
    assert env.legal_mask().all()


def test_clone_is_independent():
    env, _ = play([0, 4])
    twin = env.clone()
    twin.step(8)
    assert env.board()[8] == 0 and twin.board()[8] == 1
    assert env.to_play() == 0 and twin.to_play() == 1


def test_from_board_round_trips_and_rejects_unreachable():
    env, _ = play([0, 4, 8])
    same = TicTacToe.from_board(env.board())
    assert same.to_play() == 1
    np.testing.assert_array_equal(same.legal_mask(), env.legal_mask())
    np.testing.assert_array_equal(same._observation(), env._observation())
    won = TicTacToe.from_board(board_of(x=[0, 1, 2], o=[3, 4]))
    assert won.winner() == 0 and won.is_over()
    with pytest.raises(ValueError, match="unreachable"):
        TicTacToe.from_board(board_of(x=[0, 1, 2]))
    with pytest.raises(ValueError, match="unreachable"):
        TicTacToe.from_board(board_of(x=[0, 1, 2], o=[3, 4, 5]))


def test_render():
    env, _ = play([4, 0])
    text = env.render()
    rows = [r for r in text.splitlines() if "|" in r]
    assert len(rows) == 3
    assert rows[0].split("|")[0].strip() == "O"
    assert rows[1].split("|")[1].strip() == "X"
    assert rows[2].split("|")[2].strip() == "8"


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(9))))
def test_random_games_agree_with_a_plain_line_check(order):
    env = TicTacToe()
    env.reset()
    for ply, a in enumerate(order):
        mover = env.to_play()
        assert mover == ply % 2
        assert env.legal_mask()[a]
        obs, reward, term, _ = env.step(a)
        b = env.board()
        mine = [c for c in range(9) if b[c] == mover + 1]
        assert reward == (0.0 if no_line(mine) else 1.0)
        assert term == (reward == 1.0 or ply == 8)
        np.testing.assert_array_equal(obs[1].reshape(9), b == mover + 1)
        np.testing.assert_array_equal(obs[0].reshape(9), b == 2 - mover)
        if term:
            assert env.winner() == (mover if reward else -1)
            break


# --- experts -----------------------------------------------------------------------------

def slow_negamax(b: list[int], to_play: int) -> int:
    """Reference: plain exhaustive negamax, no memo, no tricks."""
    me, them = to_play + 1, 2 - to_play
    if not no_line([c for c in range(9) if b[c] == them]):
        return -1
    if 0 not in b:
        return 0
    best = -1
    for c in range(9):
        if b[c] == 0:
            b[c] = me
            best = max(best, -slow_negamax(b, 1 - to_play))
            b[c] = 0
    return best


def test_minimax_agrees_with_plain_negamax_on_random_positions():
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 25:
        env = TicTacToe()
        env.reset()
        for a in rng.permutation(9)[: rng.integers(3, 7)]:
            env.step(int(a))
            if env.is_over():
                break
        if env.is_over():
            continue
        b, p = env.board().tolist(), env.to_play()
        assert value(env.board(), p) == slow_negamax(b, p)
        for a in range(9):
            if b[a] == 0:
                b[a] = p + 1
                child = -slow_negamax(b, 1 - p)
                b[a] = 0
                assert (a in optimal_actions(env.board(), p)) == (child == value(env.board(), p))
        checked += 1


def test_known_minimax_values():
    empty = np.zeros(9, dtype=np.int8)
    assert value(empty, 0) == 0
    assert optimal_actions(empty, 0) == list(range(9))  # every opening draws
    # X to move with two in a row on top: a win in one.
    assert value(board_of(x=[0, 1], o=[3, 4]), 0) == 1
    assert 2 in optimal_actions(board_of(x=[0, 1], o=[3, 4]), 0)
    # O to move can complete the middle row.
    assert value(board_of(x=[0, 1, 8], o=[3, 4]), 1) == 1
    assert 5 in optimal_actions(board_of(x=[0, 1, 8], o=[3, 4]), 1)
    # O must block at 2 or lose.
    assert optimal_actions(board_of(x=[0, 1], o=[4]), 1) == [2]
    # X in opposite corners, O centre: only an edge draws, a corner walks into a fork.
    assert value(board_of(x=[0, 8], o=[4]), 1) == 0
    assert optimal_actions(board_of(x=[0, 8], o=[4]), 1) == [1, 3, 5, 7]
    # X to move can fork (3 or 6) with no immediate win on the board.
    assert value(board_of(x=[0, 4], o=[1, 8]), 0) == 1
    assert optimal_actions(board_of(x=[0, 4], o=[1, 8]), 0) == [3, 6]
    # Centre then an edge reply loses for O.
    assert value(board_of(x=[4], o=[1]), 0) == 1
    # Finished boards.
    assert value(board_of(x=[0, 1, 2], o=[3, 4]), 1) == -1
    assert optimal_actions(board_of(x=[0, 1, 2], o=[3, 4]), 1) == []
    assert TicTacToeMinimax.value(empty, 1) == 0


def test_minimax_rejects_bad_input():
    with pytest.raises(ValueError):
        value(np.zeros(8, dtype=np.int8), 0)
    with pytest.raises(ValueError):
        value(np.full(9, 3, dtype=np.int8), 0)
    with pytest.raises(ValueError):
        value(np.zeros(9, dtype=np.int8), 2)


def run_game(players, rng) -> int:
    env = TicTacToe()
    env.reset()
    while not env.is_over():
        env.step(players[env.to_play()].act(env, rng))
    return env.winner()


def test_minimax_self_play_always_draws():
    rng = np.random.default_rng(1)
    mm = TicTacToeMinimax()
    assert all(run_game([mm, mm], rng) == -1 for _ in range(20))


@pytest.mark.parametrize("seat", [0, 1])
def test_minimax_never_loses_to_random(seat):
    rng = np.random.default_rng(2 + seat)
    players = [RandomExpert(), RandomExpert()]
    players[seat] = TicTacToeMinimax()
    results = [run_game(players, rng) for _ in range(200)]
    assert results.count(1 - seat) == 0
    assert results.count(seat) >= (180 if seat == 0 else 120)


def test_minimax_varies_among_optimal_moves():
    rng = np.random.default_rng(3)
    mm = TicTacToeMinimax()
    env = TicTacToe()
    openings = set()
    games = set()
    for _ in range(60):
        env.reset()
        moves = []
        while not env.is_over():
            moves.append(mm.act(env, rng))
            env.step(moves[-1])
        openings.add(moves[0])
        games.add(tuple(moves))
    assert len(openings) >= 6
    assert len(games) >= 30


def test_random_expert_is_uniform_over_legal_moves():
    rng = np.random.default_rng(4)
    env, _ = play([4, 0, 8])
    counts = np.bincount([RandomExpert().act(env, rng) for _ in range(1200)], minlength=9)
    legal = env.legal_mask()
    assert (counts[~legal] == 0).all()
    assert counts[legal].min() > 120  # 200 expected per legal cell
    env, _ = play([0, 3, 1, 4, 2])
    with pytest.raises(ValueError):
        RandomExpert().act(env, rng)


def test_the_walk_over_perfect_play_finds_mistakes_and_only_mistakes():
    from zeroplan.envs.experts import optimal_actions, perfect_play_mistakes

    perfect = lambda env: optimal_actions(env.board(), env.to_play())[0]  # noqa: E731
    lowest = lambda env: int(np.flatnonzero(env.legal_mask())[0])  # noqa: E731
    for player in (0, 1):
        decisions, mistakes = perfect_play_mistakes(perfect, player)
        assert decisions > 0 and mistakes == []
        _, mistakes = perfect_play_mistakes(lowest, player)
        assert mistakes and all(m["after"] < m["value"] and m["move"] not in m["optimal"] for m in mistakes)
