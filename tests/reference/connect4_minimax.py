"""Reference for the connect-four alpha-beta: plain minimax on a 6x7 grid, no pruning,
no bit tricks, the heuristic spelled out cell by cell. Slow (use depth <= 3) but
obviously correct; the compiled search must give exactly these root scores.

Scoring, from the point of view of the player to move: a move that makes four is
worth WIN + the depth left after it was searched from (so sooner wins score
higher), a full board is 0, and at the horizon each 4-cell window holding n
stones of one side and none of the other adds (or subtracts) LINE_WEIGHTS[n],
plus CENTRE_BONUS per own stone in the middle column minus the opponent's.
"""

from __future__ import annotations

import numpy as np

WIN = 1 << 20
LINE_WEIGHTS = (0, 1, 4, 16)
CENTRE_BONUS = 3
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def windows() -> list[list[tuple[int, int]]]:
    out = []
    for r in range(6):
        for c in range(7):
            for dr, dc in DIRECTIONS:
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= y < 6 and 0 <= x < 7 for y, x in cells):
                    out.append(cells)
    return out


WINDOWS = windows()


def drop(grid: np.ndarray, column: int, piece: int) -> tuple[int, int] | None:
    """Put `piece` in the lowest empty cell of `column`; None when the column is full."""
    for row in range(5, -1, -1):
        if grid[row, column] == 0:
            grid[row, column] = piece
            return row, column
    return None


def makes_four(grid: np.ndarray, cell: tuple[int, int], piece: int) -> bool:
    return any(cell in w and all(grid[y, x] == piece for y, x in w) for w in WINDOWS)


def heuristic(grid: np.ndarray, me: int) -> int:
    them = 3 - me
    score = 0
    for w in WINDOWS:
        mine = sum(grid[y, x] == me for y, x in w)
        theirs = sum(grid[y, x] == them for y, x in w)
        if theirs == 0:
            score += LINE_WEIGHTS[mine]
        elif mine == 0:
            score -= LINE_WEIGHTS[theirs]
    score += CENTRE_BONUS * (int((grid[:, 3] == me).sum()) - int((grid[:, 3] == them).sum()))
    return score


def value(grid: np.ndarray, me: int, depth: int) -> int:
    """Minimax value for `me` to move on a grid where the previous move did not win."""
    if (grid != 0).all():
        return 0
    if depth == 0:
        return heuristic(grid, me)
    return max(s for s in move_scores(grid, me, depth) if s is not None)


def move_scores(grid: np.ndarray, me: int, depth: int) -> list[int | None]:
    """Score of each column for `me` (None when full)."""
    out: list[int | None] = []
    for c in range(7):
        child = grid.copy()
        cell = drop(child, c, me)
        if cell is None:
            out.append(None)
        elif makes_four(child, cell, me):
            out.append(WIN + depth)
        else:
            out.append(-value(child, 3 - me, depth - 1))
    return out
