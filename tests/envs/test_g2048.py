"""2048's rules against hand-built boards, its spawn odds, and its symmetries."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.envs.games.g2048 import DOWN, LEFT, RIGHT, SYMMETRIES, UP, Game2048, _slide_row_left, slide


@pytest.mark.parametrize("row, after, reward", [
    ((1, 1, 1, 1), (2, 2, 0, 0), 8),     # 2 2 2 2 -> 4 4: two merges, 4 + 4
    ((1, 1, 2, 0), (2, 2, 0, 0), 4),     # 2 2 4 -> 4 4: the new 4 does not merge again in the same move
    ((2, 1, 1, 0), (2, 2, 0, 0), 4),     # 4 2 2 -> 4 4
    ((0, 0, 0, 1), (1, 0, 0, 0), 0),     # a slide without a merge earns nothing
    ((1, 2, 1, 2), (1, 2, 1, 2), 0),     # nothing moves
    ((3, 3, 3, 0), (4, 3, 0, 0), 16),    # 8 8 8 -> 16 8: the front pair merges
    ((0, 1, 0, 1), (2, 0, 0, 0), 4),     # across a gap
    ((11, 11, 0, 0), (12, 0, 0, 0), 4096),
])
def test_a_row_slides_left(row, after, reward):
    assert _slide_row_left(row) == (after, reward)


def test_the_four_directions_on_a_board():
    board = np.array([[1, 1, 0, 2],
                      [0, 0, 0, 0],
                      [1, 0, 0, 2],
                      [0, 0, 3, 3]], dtype=np.int8)
    left, r = slide(board, LEFT)
    assert left.tolist() == [[2, 2, 0, 0], [0, 0, 0, 0], [1, 2, 0, 0], [4, 0, 0, 0]] and r == 4 + 16
    right, r = slide(board, RIGHT)
    assert right.tolist() == [[0, 0, 2, 2], [0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 0, 4]] and r == 4 + 16
    up, r = slide(board, UP)
    assert up.tolist() == [[2, 1, 3, 3], [0, 0, 0, 3], [0, 0, 0, 0], [0, 0, 0, 0]] and r == 4 + 8
    down, r = slide(board, DOWN)
    assert down.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3], [2, 1, 3, 3]] and r == 4 + 8


def _at(board) -> Game2048:
    env = Game2048()
    env.reset(seed=0)
    env._board[:] = np.asarray(board, dtype=np.int8)
    env._refresh()
    return env


def test_moves_that_change_nothing_are_illegal_and_a_stuck_board_ends_the_game():
    env = _at([[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert env.legal_mask().tolist() == [False, False, True, False]  # only down moves a tile
    with pytest.raises(ValueError, match="changes nothing"):
        env.step(LEFT)
    obs, reward, terminated, truncated = env.step(DOWN)
    assert reward == 0 and not terminated and (env.board() > 0).sum() == 5  # four slid, one spawned
    stuck = _at([[1, 2, 1, 2], [2, 1, 2, 1], [1, 2, 1, 2], [2, 1, 2, 1]])
    assert not stuck.legal_mask().any() and stuck.is_over()
    almost = _at([[1, 2, 1, 2], [2, 1, 2, 1], [1, 2, 1, 2], [2, 1, 2, 2]])
    assert almost.legal_mask().tolist() == [True, True, True, True]
    obs, reward, terminated, _ = almost.step(LEFT)  # 4 4 merge to 8 and a tile spawns in the one gap
    assert reward == 8 and (almost.board() > 0).all()
    assert terminated == (not almost.legal_mask().any())


def test_spawns_are_twos_nine_times_in_ten_on_uniform_empty_cells():
    env = Game2048()
    counts, cells = np.zeros(3), np.zeros(16)
    for seed in range(4000):
        env.reset(seed=seed)
        flat = env.board().reshape(-1)
        for cell in np.flatnonzero(flat):
            counts[flat[cell]] += 1
            cells[cell] += 1
    fours = counts[2] / counts[1:].sum()
    assert abs(fours - 0.1) < 4 * np.sqrt(0.1 * 0.9 / counts[1:].sum())
    expected = cells.sum() / 16
    assert np.abs(cells - expected).max() < 5 * np.sqrt(expected)


def test_observation_planes_are_one_hot_exponents():
    env = _at([[0, 1, 2, 15], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 11]])
    obs = env._observation()
    assert obs.shape == (16, 4, 4) and (obs.sum(axis=0) == 1).all()
    assert obs[0, 0, 0] == obs[1, 0, 1] == obs[2, 0, 2] == obs[15, 0, 3] == obs[11, 3, 3] == 1
    assert env.max_tile() == 1 << 15


def test_each_symmetry_maps_games_onto_games():
    """Mapped moves on the transformed board give the transformed boards, legal moves and rewards,
    when the transformed game's tiles spawn on the mapped cells."""
    assert len(SYMMETRIES) == 7
    rng = np.random.default_rng(0)
    for sym in SYMMETRIES:
        cell_of = sym.obs_index[:16]  # transformed cell i holds original cell cell_of[i]
        inverse = np.argsort(cell_of)
        for game in range(10):
            a = Game2048()
            a.reset(seed=game)
            b = _at(a.board().reshape(-1)[cell_of].reshape(4, 4))
            while not a.is_over():
                np.testing.assert_array_equal(b._observation().reshape(-1), a._observation().reshape(-1)[sym.obs_index])
                np.testing.assert_array_equal(b.legal_mask(), a.legal_mask()[sym.inverse_actions])
                move = int(rng.choice(np.flatnonzero(a.legal_mask())))
                before = a.board().reshape(-1).copy()
                _, reward_a, done_a, _ = a.step(move)
                slid, reward_b = slide(b.board(), int(sym.action_map[move]))
                assert reward_a == reward_b
                spawned = np.flatnonzero(a.board().reshape(-1) != slide(before.reshape(4, 4), move)[0].reshape(-1))
                after = slid.reshape(-1).copy()
                after[inverse[spawned]] = a.board().reshape(-1)[spawned]
                b = _at(after.reshape(4, 4))
                assert b.is_over() == done_a


def test_a_copy_draws_its_own_tiles():
    env = Game2048()
    env.reset(seed=3)
    move = int(np.flatnonzero(env.legal_mask())[0])
    copies = [env.clone() for _ in range(6)]
    boards = [c.step(move)[0].tobytes() for c in copies]
    real = env.step(move)[0].tobytes()
    assert len(set(boards)) > 1 and sum(b == real for b in boards) < 6
