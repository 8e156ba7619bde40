"""What two-player games share: whose move it is and how the game ended
(`TurnBased`: the native engines and the PettingZoo adapter), and, for the
native engines, an independent copy of a position (for experts that search by
playing moves)."""

from __future__ import annotations

import copy
from typing import TypeVar

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
    numpy arrays and scalars), so a one-level copy is an independent position."""

    def clone(self: G) -> G:
        other = type(self).__new__(type(self))
        other.__dict__ = {k: copy.copy(v) for k, v in self.__dict__.items()}  # one level deep is all state has
        return other
