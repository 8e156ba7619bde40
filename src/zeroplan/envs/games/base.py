"""What two-player games share: whose move it is and how the game ended
(`TurnBased`: the native engines and the PettingZoo adapter), and, for the
native engines, an independent copy of a position (for experts that search by
playing moves)."""

from __future__ import annotations

import copy
from typing import TypeVar

import numpy as np

G = TypeVar("G", bound="StoneGame")


class TurnBased:
    """A subclass keeps `_player` (to move), `_winner` and `_done` up to date."""

    _player: int
    _winner: int
    _done: bool

    def to_play(self) -> int:
        return self._player

    def winner(self) -> int:
        """-1 while undecided or drawn, else the winning player."""
        return self._winner

    def is_over(self) -> bool:
        return self._done


class StoneGame(TurnBased):
    """A native engine: all its state is in plain attributes (bytearrays, lists,
    numpy arrays and scalars), so a one-level copy is an independent position.

    The stone bookkeeping the engines share lives here: a board of `cells`
    bytes (0 empty, else player + 1), a bit mask of stones per player, the
    stones as observation planes, and the move count."""

    _board: bytearray
    _bits: list[int]
    _stones: np.ndarray
    _moves: int

    def _empty(self, cells: int) -> None:
        self._board = bytearray(cells)
        self._bits = [0, 0]
        self._stones = np.zeros((2, cells), dtype=np.float32)
        self._player = 0
        self._moves = 0
        self._winner = -1
        self._done = False

    def _clear(self) -> None:
        """Back to the empty board, in place."""
        self._board[:] = bytes(len(self._board))
        self._bits[0] = self._bits[1] = 0
        self._stones.fill(0.0)
        self._player = 0
        self._moves = 0
        self._winner = -1
        self._done = False

    def _refuse_when_over(self) -> None:
        if self._done:
            outcome = "a draw" if self._winner < 0 else f"won by player {self._winner}"
            raise ValueError(f"{self.spec.name}: the game is over ({outcome}); call reset() before stepping again")

    def _place(self, cell: int, lines_through: tuple[int, ...]) -> float:
        """The mover's stone on `cell`; the reward (1 when it completes one of the
        `lines_through` masks); the game ends on a win or a full board."""
        p = self._player
        bits = self._bits[p] | (1 << cell)
        self._bits[p] = bits
        self._board[cell] = p + 1
        self._stones[p, cell] = 1.0
        self._moves += 1
        reward = 0.0
        for m in lines_through:
            if bits & m == m:
                self._winner = p
                reward = 1.0
                break
        self._done = reward > 0.0 or self._moves == len(self._board)
        self._player = 1 - p
        return reward

    def clone(self: G) -> G:
        other = type(self).__new__(type(self))
        other.__dict__ = {k: copy.copy(v) for k, v in self.__dict__.items()}  # one level deep is all state has
        return other
