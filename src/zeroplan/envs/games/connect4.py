"""Connect four on the turn-based contract: 6 rows, 7 columns, actions are columns.

Cells are numbered row-major with row 0 at the *top* (cell = 7 * row + column),
the way a person sees the board and the way PettingZoo's connect_four_v3 lays
out its observation, so the two can be compared plane for plane. As in
tic-tac-toe the state is kept three ways: a bytearray board, one 42-bit integer
per player (a win test checks only the 4-cell windows through the stone just
dropped) and float32 stone planes (the observation is a copy, no re-encoding).
"""

from __future__ import annotations

import operator

import numpy as np

from zeroplan.envs.games.base import StoneGame
from zeroplan.envs.spec import EnvSpec, Symmetry

ROWS, COLS = 6, 7
CELLS = ROWS * COLS
CONNECT = 4
_SYMBOLS = ("X", "O")


def _windows() -> tuple[int, ...]:
    """Every straight run of four cells as a bit mask: 69 of them."""
    out = []
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_r, end_c = r + dr * (CONNECT - 1), c + dc * (CONNECT - 1)
                if 0 <= end_r < ROWS and 0 <= end_c < COLS:
                    out.append(sum(1 << (7 * (r + k * dr) + c + k * dc) for k in range(CONNECT)))
    return tuple(out)


WINDOWS: tuple[int, ...] = _windows()
# Only a window through the cell just filled can have been completed by that move.
WINDOWS_THROUGH: tuple[tuple[int, ...], ...] = tuple(
    tuple(w for w in WINDOWS if w >> cell & 1) for cell in range(CELLS)
)
FULL_MASK = (1 << CELLS) - 1

SPEC = EnvSpec(obs_shape=(3, ROWS, COLS), num_actions=COLS, num_players=2, name="connect4")
# The board mirrored left to right (a move is a column): the game's one symmetry.
MIRROR = Symmetry.of_grid(3, np.arange(CELLS).reshape(ROWS, COLS)[:, ::-1], np.arange(COLS)[::-1])


def has_four(bits: int) -> bool:
    """Whether a player's 42-bit stone mask holds four in a row anywhere."""
    return any(bits & w == w for w in WINDOWS)


class Connect4(StoneGame):
    """Player 0 (X) moves first; action c drops a stone into column c (0..6).

    Observation, from the mover's point of view, float32 [3, 6, 7]: plane 0 the
    mover's stones, plane 1 the opponent's, plane 2 all ones when player 0 is to
    move (the same convention as tic-tac-toe, so networks and tests carry over).
    """

    spec: EnvSpec = SPEC

    def __init__(self) -> None:
        self._empty(CELLS)
        self._heights = [0] * COLS

    # --- the contract -------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Empty board. The game is deterministic, so `seed` is accepted and ignored."""
        self._clear()
        self._heights[:] = [0] * COLS
        return self._observation()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        self._refuse_when_over()
        try:
            c = operator.index(action)
        except TypeError:
            raise ValueError(f"connect4: action must be an integer column 0..6, got {action!r}") from None
        if not 0 <= c < COLS:
            raise ValueError(f"connect4: action {c} is out of range; columns are 0..6")
        height = self._heights[c]
        if height == ROWS:
            raise ValueError(f"connect4: illegal action {c}, column {c} is full")
        cell = (ROWS - 1 - height) * COLS + c
        self._heights[c] = height + 1
        reward = self._place(cell, WINDOWS_THROUGH[cell])
        return self._observation(), reward, self._done, False

    def symmetries(self) -> tuple[Symmetry, ...]:
        return (MIRROR,)

    def legal_mask(self) -> np.ndarray:
        if self._done:
            return np.zeros(COLS, dtype=bool)
        return np.array([h < ROWS for h in self._heights], dtype=bool)

    # --- extras for experts, tests and the terminal UI --------------------------------

    def board(self) -> np.ndarray:
        """int8 [6, 7], row 0 at the top: 0 empty, 1 player 0's stone, 2 player 1's (a copy)."""
        return np.frombuffer(self._board, dtype=np.int8).reshape(ROWS, COLS).copy()

    def bitboards(self) -> tuple[int, int]:
        """Each player's stones as a 42-bit mask (bit 7 * row + column), for fast experts."""
        return self._bits[0], self._bits[1]

    def heights(self) -> list[int]:
        """Stones in each column (a copy)."""
        return list(self._heights)

    @classmethod
    def from_board(cls, board) -> Connect4:
        """A game at a given position (int8 [6, 7] as `board()` returns), whose mover follows
        from the stone counts. Raises ValueError for positions no game can reach (floating
        stones, wrong counts, both players with four, the mover already having four)."""
        grid = np.asarray(board)
        if grid.shape != (ROWS, COLS) or not np.isin(grid, (0, 1, 2)).all():
            raise ValueError(f"connect4: a board is a 6x7 grid of 0/1/2, got shape {grid.shape}")
        n0, n1 = int((grid == 1).sum()), int((grid == 2).sum())
        if n0 not in (n1, n1 + 1):
            raise ValueError(f"connect4: unreachable board, player 0 has {n0} stones and player 1 has {n1}")
        env = cls()
        for c in range(COLS):
            column = grid[::-1, c]  # bottom first
            height = int(np.count_nonzero(column))
            if column[height:].any():
                raise ValueError(f"connect4: unreachable board, column {c} has a stone above an empty cell")
            env._heights[c] = height
        for cell, v in enumerate(grid.reshape(-1).tolist()):
            if v:
                env._board[cell] = v
                env._bits[v - 1] |= 1 << cell
                env._stones[v - 1, cell] = 1.0
        env._moves = n0 + n1
        env._player = 0 if n0 == n1 else 1
        last = 1 - env._player
        if has_four(env._bits[env._player]):
            raise ValueError("connect4: unreachable board, the player to move already has four in a row")
        if has_four(env._bits[last]):
            env._winner = last
        env._done = env._winner >= 0 or env._moves == CELLS
        return env

    def render(self) -> str:
        """A text board, top row first: X for player 0, O for player 1, . when empty,
        column numbers underneath (they are the actions)."""
        chars = [_SYMBOLS[v - 1] if v else "." for v in self._board]
        rows = ["| " + " ".join(chars[r * COLS:(r + 1) * COLS]) + " |" for r in range(ROWS)]
        footer = "  " + " ".join(str(c) for c in range(COLS))
        return "\n".join(rows + ["+" + "-" * (2 * COLS + 1) + "+", footer])

    def _observation(self) -> np.ndarray:
        p = self._player
        obs = np.empty((3, CELLS), dtype=np.float32)
        obs[0] = self._stones[p]
        obs[1] = self._stones[1 - p]
        obs[2] = 1.0 if p == 0 else 0.0
        return obs.reshape(3, ROWS, COLS)
