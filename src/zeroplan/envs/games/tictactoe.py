"""Tic-tac-toe on the turn-based contract, small and fast enough for self-play.

The state is kept three ways at once, each for the job it does best: a
bytearray board (cheap indexing, `board()`), one 9-bit mask per player (a win
test is two integer operations per line through the last move), and float32
stone planes (the observation is a copy of two rows, no re-encoding per step).
"""

from __future__ import annotations

import operator

import numpy as np

from zeroplan.envs.games.base import StoneGame
from zeroplan.envs.spec import EnvSpec, Symmetry

LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8),  # rows
    (0, 3, 6), (1, 4, 7), (2, 5, 8),  # columns
    (0, 4, 8), (2, 4, 6),             # diagonals
)
WIN_MASKS: tuple[int, ...] = tuple((1 << a) | (1 << b) | (1 << c) for a, b, c in LINES)
# Only a line through the cell just played can have been completed by that move.
_MASKS_THROUGH: tuple[tuple[int, ...], ...] = tuple(
    tuple(m for m in WIN_MASKS if m >> cell & 1) for cell in range(9)
)
FULL_MASK = (1 << 9) - 1
_SYMBOLS = ("X", "O")

SPEC = EnvSpec(obs_shape=(3, 3, 3), num_actions=9, num_players=2, name="tictactoe")


def _board_symmetries() -> tuple[Symmetry, ...]:
    """The square's 7 rotations and reflections other than the identity; a move is a cell."""
    cells = np.arange(9).reshape(3, 3)
    grids = [np.rot90(g, k) for g in (cells, cells.T) for k in range(4)][1:]
    return tuple(Symmetry.of_grid(3, g, np.argsort(g.reshape(-1))) for g in grids)


SYMMETRIES = _board_symmetries()


def has_line(bits: int) -> bool:
    """Whether a player's 9-bit stone mask contains three in a row."""
    return any(bits & m == m for m in WIN_MASKS)


class TicTacToe(StoneGame):
    """Player 0 (X) moves first; actions are cell indices 0..8, row-major.

    Observation, from the mover's point of view, float32 [3, 3, 3]: plane 0 the
    mover's stones, plane 1 the opponent's, plane 2 all ones when player 0 is to
    move (the only way a shared network can tell who it is playing for).
    """

    spec: EnvSpec = SPEC

    def __init__(self) -> None:
        self._empty(9)

    # --- the contract -------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Empty board. The game is deterministic, so `seed` is accepted and ignored."""
        self._clear()
        return self._observation()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        self._refuse_when_over()
        try:
            a = operator.index(action)
        except TypeError:
            raise ValueError(f"tictactoe: action must be an integer cell index 0..8, got {action!r}") from None
        if not 0 <= a < 9:
            raise ValueError(f"tictactoe: action {a} is out of range; cells are 0..8")
        if self._board[a]:
            raise ValueError(f"tictactoe: illegal action {a}, cell already holds "
                             f"{_SYMBOLS[self._board[a] - 1]} (player {self._board[a] - 1})")
        reward = self._place(a, _MASKS_THROUGH[a])
        return self._observation(), reward, self._done, False

    def symmetries(self) -> tuple[Symmetry, ...]:
        return SYMMETRIES

    def legal_mask(self) -> np.ndarray:
        if self._done:
            return np.zeros(9, dtype=bool)
        return np.frombuffer(self._board, dtype=np.int8) == 0

    # --- extras for experts, tests and the terminal UI --------------------------------

    def board(self) -> np.ndarray:
        """int8 [9]: 0 empty, 1 player 0's stone, 2 player 1's stone (a copy)."""
        return np.frombuffer(self._board, dtype=np.int8).copy()

    @classmethod
    def from_board(cls, board) -> TicTacToe:
        """A game at a given position (int8 [9] as `board()` returns), whose mover follows
        from the stone counts. Raises ValueError for positions no game can reach."""
        cells = [int(v) for v in np.asarray(board).reshape(-1)]
        if len(cells) != 9 or any(v not in (0, 1, 2) for v in cells):
            raise ValueError(f"tictactoe: a board is 9 cells of 0/1/2, got {board!r}")
        n0, n1 = cells.count(1), cells.count(2)
        if n0 not in (n1, n1 + 1):
            raise ValueError(f"tictactoe: unreachable board, player 0 has {n0} stones and player 1 has {n1}")
        env = cls()
        for cell, v in enumerate(cells):
            if v:
                env._board[cell] = v
                env._bits[v - 1] |= 1 << cell
                env._stones[v - 1, cell] = 1.0
        env._moves = n0 + n1
        env._player = 0 if n0 == n1 else 1
        won = [has_line(env._bits[0]), has_line(env._bits[1])]
        last = 1 - env._player
        if won[env._player]:
            raise ValueError("tictactoe: unreachable board, the player to move already has three in a row")
        if won[last]:
            env._winner = last
        env._done = won[last] or env._moves == 9
        return env

    def render(self) -> str:
        """A text board: X for player 0, O for player 1, the cell's digit when empty."""
        chars = [str(i) if v == 0 else _SYMBOLS[v - 1] for i, v in enumerate(self._board)]
        rows = [" " + " | ".join(chars[r * 3:r * 3 + 3]) for r in range(3)]
        return "\n---+---+---\n".join(rows)

    def _observation(self) -> np.ndarray:
        p = self._player
        obs = np.empty((3, 9), dtype=np.float32)
        obs[0] = self._stones[p]
        obs[1] = self._stones[1 - p]
        obs[2] = 1.0 if p == 0 else 0.0
        return obs.reshape(3, 3, 3)
