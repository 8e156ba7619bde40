"""Compiled depth-limited alpha-beta for connect four, the search behind the expert.

Evaluation plays hundreds of expert moves per checkpoint on two shared cores, so
the search runs in numba on the same 42-bit boards the native engine keeps
(bit 7 * row + column, row 0 at the top). Scores are integers from the point of
view of the player to move: a win is worth WIN plus the depth still unsearched
(sooner wins score higher, later losses lose less), anything undecided at the
horizon is a heuristic far below WIN.

The root scores every legal column with a full window, so equal scores are
really equal and the expert can break ties at random.
"""

from __future__ import annotations

import numba
import numpy as np

from zeroplan.envs.games.connect4 import COLS, ROWS, WINDOWS, WINDOWS_THROUGH

WIN = 1 << 20
INF = 1 << 30
NO_MOVE = -(1 << 40)  # the root score of a full column
# Heuristic weights for a window holding n stones of one player and none of the other.
LINE_WEIGHTS = np.array([0, 1, 4, 16], dtype=np.int64)
CENTRE_BONUS = 3  # per stone in the middle column, which lies in the most windows
_CELLS = ROWS * COLS

_WINDOW_MASKS = np.array(WINDOWS, dtype=np.int64)
_MAX_THROUGH = max(len(t) for t in WINDOWS_THROUGH)
_THROUGH = np.zeros((_CELLS, _MAX_THROUGH), dtype=np.int64)  # padded with 0 (never a full window)
for _cell, _ws in enumerate(WINDOWS_THROUGH):
    _THROUGH[_cell, :len(_ws)] = _ws
_CENTRE_MASK = np.int64(sum(1 << (COLS * r + COLS // 2) for r in range(ROWS)))
_ORDER = np.array([3, 2, 4, 1, 5, 0, 6], dtype=np.int64)  # centre first: earlier cut-offs
_POW2 = np.left_shift(np.int64(1), np.arange(_CELLS, dtype=np.int64))


@numba.njit(cache=True, inline="always")
def _popcount(x: np.int64) -> int:
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@numba.njit(cache=True, inline="always")
def _landing_cell(column: int, height: int) -> int:
    return (ROWS - 1 - height) * COLS + column


@numba.njit(cache=True)
def _wins_at(bits: np.int64, cell: int) -> bool:
    for k in range(_THROUGH.shape[1]):
        w = _THROUGH[cell, k]
        if w != 0 and bits & w == w:
            return True
    return False


@numba.njit(cache=True)
def evaluate(mine: np.int64, theirs: np.int64) -> int:
    """Open lines: each window not blocked by the other side, weighted by its stones."""
    score = 0
    for i in range(_WINDOW_MASKS.shape[0]):
        w = _WINDOW_MASKS[i]
        a = _popcount(mine & w)
        b = _popcount(theirs & w)
        if b == 0:
            score += LINE_WEIGHTS[a]
        elif a == 0:
            score -= LINE_WEIGHTS[b]
    score += CENTRE_BONUS * (_popcount(mine & _CENTRE_MASK) - _popcount(theirs & _CENTRE_MASK))
    return score


@numba.njit(cache=True)
def _negamax(mine: np.int64, theirs: np.int64, heights: np.ndarray, moves: int, depth: int,
             alpha: int, beta: int) -> int:
    """Value for the player owning `mine`, who is to move; the last move did not win.

    Iterative, with one stack slot per ply, because numba's on-disk cache
    crashes when it reloads a self-recursive function. `heights` is changed while
    searching and restored before returning.
    """
    if moves == _CELLS:
        return 0
    if depth == 0:
        return evaluate(mine, theirs)
    own = np.empty(depth, dtype=np.int64)     # the mover's stones at each ply
    other = np.empty(depth, dtype=np.int64)
    lo = np.empty(depth, dtype=np.int64)      # alpha, beta and best so far at each ply
    hi = np.empty(depth, dtype=np.int64)
    best = np.empty(depth, dtype=np.int64)
    tried = np.zeros(depth, dtype=np.int64)   # index into _ORDER of the next move to try
    played = np.empty(depth, dtype=np.int64)  # the column leading to the ply below
    sp = 0
    own[0], other[0], lo[0], hi[0], best[0] = mine, theirs, alpha, beta, -INF
    while True:
        if tried[sp] < COLS and lo[sp] < hi[sp]:
            c = _ORDER[tried[sp]]
            tried[sp] += 1
            h = heights[c]
            if h == ROWS:
                continue
            cell = _landing_cell(c, h)
            placed = own[sp] | (np.int64(1) << cell)
            left = depth - sp  # plies still to search from this node
            if _wins_at(placed, cell):
                score = WIN + left
            elif moves + sp + 1 == _CELLS:
                score = 0
            elif left == 1:
                score = -evaluate(other[sp], placed)
            else:
                heights[c] = h + 1
                played[sp] = c
                child = sp + 1
                own[child], other[child] = other[sp], placed
                lo[child], hi[child], best[child], tried[child] = -hi[sp], -lo[sp], -INF, 0
                sp = child
                continue
        else:
            if sp == 0:
                return best[0]
            score = -best[sp]
            sp -= 1
            heights[played[sp]] -= 1
        if score > best[sp]:
            best[sp] = score
        if score > lo[sp]:
            lo[sp] = score


@numba.njit(cache=True)
def root_scores(mine: np.int64, theirs: np.int64, heights: np.ndarray, depth: int) -> np.ndarray:
    """Exact depth-`depth` score of each column for the player owning `mine` (NO_MOVE when full)."""
    scores = np.full(COLS, NO_MOVE, dtype=np.int64)
    moves = 0
    for c in range(COLS):
        moves += heights[c]
    for c in range(COLS):
        h = heights[c]
        if h == ROWS:
            continue
        cell = _landing_cell(c, h)
        placed = mine | (np.int64(1) << cell)
        if _wins_at(placed, cell):
            scores[c] = WIN + depth
        else:
            heights[c] = h + 1
            scores[c] = -_negamax(theirs, placed, heights, moves + 1, depth - 1, -INF, INF)
            heights[c] = h
    return scores


@numba.njit(cache=True)
def winning_columns(bits: np.int64, heights: np.ndarray) -> np.ndarray:
    """Columns where the owner of `bits` completes four with the next stone dropped."""
    out = np.zeros(COLS, dtype=np.bool_)
    for c in range(COLS):
        h = heights[c]
        if h < ROWS:
            cell = _landing_cell(c, h)
            out[c] = _wins_at(bits | (np.int64(1) << cell), cell)
    return out


def position(board: np.ndarray, to_play: int) -> tuple[np.int64, np.int64, np.ndarray]:
    """(mover's bits, opponent's bits, column heights) from a `Connect4.board()` grid."""
    grid = np.asarray(board)
    if grid.shape != (ROWS, COLS):
        raise ValueError(f"connect four alpha-beta: expected a 6x7 board, got shape {grid.shape}")
    flat = grid.reshape(-1)
    mine = np.int64(_POW2[flat == to_play + 1].sum())
    theirs = np.int64(_POW2[flat == 2 - to_play].sum())
    heights = np.count_nonzero(grid, axis=0).astype(np.int64)
    return mine, theirs, heights
