"""Connect-four rules on the native engine, checked against plain grid scans."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroplan.envs.games.connect4 import WINDOWS, Connect4
from zeroplan.envs.spec import EnvSpec, TurnBasedEnv


def play(columns) -> tuple[Connect4, list[tuple[np.ndarray, float, bool, bool]]]:
    env = Connect4()
    env.reset()
    return env, [env.step(c) for c in columns]


def four_in_a_row(grid: np.ndarray, piece: int) -> bool:
    """Reference: scan every start cell in four directions on the 6x7 grid."""
    for r in range(6):
        for c in range(7):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= y < 6 and 0 <= x < 7 and grid[y, x] == piece for y, x in cells):
                    return True
    return False


def assert_only_last_step_wins(steps, winner_reward=1.0):
    for _, reward, term, trunc in steps[:-1]:
        assert reward == 0.0 and not term and not trunc
    _, reward, term, trunc = steps[-1]
    assert reward == winner_reward and term and not trunc


# A column order that fills the board without anyone making four: columns are
# filled in pairs, shifted so that no row, column or diagonal lines up.
DRAW_GAME = ([0, 1] * 3 + [1, 0] * 3 + [2, 3] * 3 + [3, 2] * 3 + [4, 5] * 3 + [5, 4] * 3 + [6] * 6)


# --- the contract ------------------------------------------------------------------------

def test_spec_and_protocol():
    env = Connect4()
    assert isinstance(env, TurnBasedEnv)
    assert env.spec == EnvSpec(obs_shape=(3, 6, 7), num_actions=7, num_players=2, name="connect4")
    obs = env.reset(seed=5)
    assert obs.shape == (3, 6, 7) and obs.dtype == np.float32
    assert env.legal_mask().dtype == bool and env.legal_mask().all()
    assert env.to_play() == 0 and env.winner() == -1 and not env.is_over()
    assert len(WINDOWS) == 69


# --- rules -------------------------------------------------------------------------------

def test_stones_fall_to_the_bottom_and_stack():
    env, _ = play([3, 3, 3, 0])
    b = env.board()
    assert b.shape == (6, 7) and b.dtype == np.int8
    assert b[5, 3] == 1 and b[4, 3] == 2 and b[3, 3] == 1 and b[5, 0] == 2
    assert b.sum() == 1 + 2 + 1 + 2
    assert env.heights() == [1, 0, 0, 3, 0, 0, 0]


def test_horizontal_win():
    env, steps = play([0, 0, 1, 1, 2, 2, 3])
    assert_only_last_step_wins(steps)
    assert env.winner() == 0 and env.is_over() and not env.legal_mask().any()


def test_vertical_win_by_second_player():
    env, steps = play([0, 6, 1, 6, 0, 6, 1, 6])
    assert_only_last_step_wins(steps)
    assert env.winner() == 1


def test_rising_diagonal_win():
    # X builds the staircase 0..3 from the bottom-left; O fills underneath.
    env, steps = play([0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3])
    assert_only_last_step_wins(steps)
    assert env.winner() == 0
    b = env.board()
    assert [b[5 - k, k] for k in range(4)] == [1, 1, 1, 1]


def test_falling_diagonal_win():
    env, steps = play([6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3])
    assert_only_last_step_wins(steps)
    assert env.winner() == 0
    b = env.board()
    assert [b[5 - k, 6 - k] for k in range(4)] == [1, 1, 1, 1]


def test_win_in_the_middle_of_a_line():
    # The winning stone fills the gap of X . X X.
    env, steps = play([0, 0, 2, 2, 3, 3, 1])
    assert_only_last_step_wins(steps)


def test_full_board_is_a_draw():
    env, steps = play(DRAW_GAME)
    assert len(steps) == 42
    assert all(r == 0.0 for _, r, _, _ in steps)
    assert [t for _, _, t, _ in steps] == [False] * 41 + [True]
    assert env.winner() == -1 and env.is_over() and not env.legal_mask().any()
    assert not four_in_a_row(env.board(), 1) and not four_in_a_row(env.board(), 2)
    with pytest.raises(ValueError, match="over"):
        env.step(0)


def test_illegal_moves_raise_and_change_nothing():
    env, _ = play([2] * 6)
    assert env.legal_mask().tolist() == [True, True, False, True, True, True, True]
    with pytest.raises(ValueError, match="column 2 is full"):
        env.step(2)
    with pytest.raises(ValueError, match="out of range"):
        env.step(7)
    with pytest.raises(ValueError, match="out of range"):
        env.step(-1)
    with pytest.raises(ValueError, match="integer"):
        env.step(2.0)
    assert env.to_play() == 0 and env.heights()[2] == 6
    env.step(np.int64(4))
    assert env.board()[5, 4] == 1
    env, _ = play([0, 0, 1, 1, 2, 2, 3])
    with pytest.raises(ValueError, match="won by player 0"):
        env.step(5)


def test_observation_planes_from_the_movers_view():
    env = Connect4()
    obs = env.reset()
    np.testing.assert_array_equal(obs[2], np.ones((6, 7)))
    obs, *_ = env.step(3)  # X in the bottom centre; O to move
    assert obs[0].sum() == 0 and obs[1, 5, 3] == 1.0 and obs[1].sum() == 1.0
    np.testing.assert_array_equal(obs[2], np.zeros((6, 7)))
    obs, *_ = env.step(3)  # O on top of it; X to move
    assert obs[0, 5, 3] == 1.0 and obs[1, 4, 3] == 1.0 and obs[0].sum() == obs[1].sum() == 1.0
    obs[0] = 9.0  # the caller owns its copy
    assert env.step(0)[0][1, 5, 3] == 1.0


def test_reset_clone_and_from_board():
    env, _ = play([3, 3, 4])
    twin = env.clone()
    twin.step(4)
    assert env.board()[4, 4] == 0 and twin.board()[4, 4] == 2
    same = Connect4.from_board(env.board())
    assert same.to_play() == 1 and same.heights() == env.heights()
    np.testing.assert_array_equal(same._observation(), env._observation())
    assert same.bitboards() == env.bitboards()
    won, _ = play([0, 0, 1, 1, 2, 2, 3])
    again = Connect4.from_board(won.board())
    assert again.winner() == 0 and again.is_over()
    env.reset()
    assert env.board().sum() == 0 and env.to_play() == 0 and env.legal_mask().all()


@pytest.mark.parametrize("edit, match", [
    (lambda b: b.__setitem__((0, 0), 1), "above an empty"),
    (lambda b: b.__setitem__((5, 0), 2), "stones"),
    (lambda b: b.__setitem__((slice(None), slice(None)), 3), "6x7"),
])
def test_from_board_rejects_unreachable(edit, match):
    board = np.zeros((6, 7), dtype=np.int8)
    edit(board)
    with pytest.raises(ValueError, match=match):
        Connect4.from_board(board)


def test_render_shows_stones_and_column_numbers():
    env, _ = play([3, 3, 0])
    lines = env.render().splitlines()
    assert len(lines) == 8
    assert lines[-1].split() == [str(c) for c in range(7)]
    bottom = lines[5].strip("| ").split()
    assert bottom == ["X", ".", ".", "X", ".", ".", "."]
    assert lines[4].strip("| ").split()[3] == "O"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=120))
def test_random_games_agree_with_a_plain_grid_scan(choices):
    env = Connect4()
    env.reset()
    for ply, pick in enumerate(choices):
        legal = np.flatnonzero(env.legal_mask())
        c = int(legal[pick % legal.size])
        mover = env.to_play()
        assert mover == ply % 2
        obs, reward, term, trunc = env.step(c)
        grid = env.board()
        assert reward == (1.0 if four_in_a_row(grid, mover + 1) else 0.0)
        assert not four_in_a_row(grid, 2 - mover)
        assert term == (reward == 1.0 or ply == 41) and not trunc
        np.testing.assert_array_equal(obs[1], grid == mover + 1)
        np.testing.assert_array_equal(obs[0], grid == 2 - mover)
        assert (grid != 0).sum() == ply + 1
        if term:
            assert env.winner() == (mover if reward else -1)
            break
