"""2048 (Cirulli 2014) as a native single-player environment with chance.

The board is 4x4 exponents (0 empty, k for a tile of 2^k). A move slides every
row or column towards one side; two equal tiles that meet merge once per move
into their sum, which is the move's reward. After every move that changes the
board, a 2 (probability 0.9) or a 4 (0.1) appears on an empty cell chosen
uniformly; two tiles start the game. A move that changes nothing is illegal,
and the game ends when no move is legal.

Sliding is table lookup: every row of four exponents is one 16-bit number,
and `_LEFT[row]` / `_LEFT_REWARD[row]` hold the row slid left and what it
earned, computed once for all 65,536 rows. The other directions reverse and
transpose the board around that table.

Observation float32 [16, 4, 4]: plane k is 1 where the tile is 2^k (plane 0:
empty cells); tiles past 2^15 stay on plane 15. The board's 8 rotations and
reflections are symmetries (`symmetries()`), which replay augmentation uses;
the spawns are random, so a symmetry maps the game's distribution, not one
game's draws.
"""

from __future__ import annotations

import numpy as np

from zeroplan.envs.copies import independent_generator
from zeroplan.envs.spec import EnvSpec, Symmetry

SIZE = 4
PLANES = 16
UP, RIGHT, DOWN, LEFT = range(4)
ACTION_NAMES = ("up", "right", "down", "left")
SPEC = EnvSpec(obs_shape=(PLANES, SIZE, SIZE), num_actions=4, num_players=1, name="2048")
FOUR_PROBABILITY = 0.1


def _slide_row_left(row: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """One row of exponents slid left, merging equal pairs once; (new row, reward)."""
    tiles = [t for t in row if t]
    out, reward, i = [], 0, 0
    while i < len(tiles):
        if i + 1 < len(tiles) and tiles[i] == tiles[i + 1]:
            merged = min(tiles[i] + 1, 15)
            out.append(merged)
            reward += 1 << (tiles[i] + 1)
            i += 2
        else:
            out.append(tiles[i])
            i += 1
    return tuple(out + [0] * (SIZE - len(out))), reward


def _tables() -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(1 << 16)
    digits = np.stack([(rows >> (4 * i)) & 15 for i in range(SIZE)], axis=1)  # cell i in bits 4i..4i+3
    left = np.empty((1 << 16, SIZE), dtype=np.int8)
    reward = np.empty(1 << 16, dtype=np.int64)
    for r in range(1 << 16):
        slid, reward[r] = _slide_row_left(tuple(int(d) for d in digits[r]))
        left[r] = slid
    return left, reward


_LEFT, _LEFT_REWARD = _tables()
_WEIGHTS = np.array([1, 16, 256, 4096], dtype=np.int64)


def slide(board: np.ndarray, action: int) -> tuple[np.ndarray, int]:
    """The board [4, 4] of exponents after `action` (before the spawn) and the reward."""
    oriented = _orient(board, action)
    keys = oriented.astype(np.int64) @ _WEIGHTS
    return _orient(_LEFT[keys], action, inverse=True), int(_LEFT_REWARD[keys].sum())


def _orient(board: np.ndarray, action: int, inverse: bool = False) -> np.ndarray:
    """The board turned so that `action` slides its rows to the left (`inverse`: turned back)."""
    if action == LEFT:
        return board
    if action == RIGHT:
        return board[:, ::-1]
    if action == UP:
        return board.T
    return board[:, ::-1].T if inverse else board.T[:, ::-1]  # DOWN: transpose, then mirror


_VECTORS = {UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}


def _map_direction(grid: np.ndarray, action: int) -> int:
    """The move that, on the transformed board, pushes tiles where `action` pushes them on the
    original: the image of one step from cell (1, 1) in the move's direction."""
    where = {int(v): np.array((r, c)) for (r, c), v in np.ndenumerate(grid)}  # original cell -> new place
    dr, dc = _VECTORS[action]
    step = where[(1 + dr) * SIZE + (1 + dc)] - where[SIZE + 1]
    return next(a for a, v in _VECTORS.items() if v == (int(step[0]), int(step[1])))


def _symmetries() -> tuple[Symmetry, ...]:
    """The square's 7 non-identity rotations and reflections, with the moves they map."""
    cells = np.arange(SIZE * SIZE).reshape(SIZE, SIZE)
    grids = [np.rot90(g, k) for g in (cells, cells.T) for k in range(4)][1:]  # transformed[r, c] = original[grid]
    return tuple(Symmetry.of_grid(PLANES, g, [_map_direction(g, a) for a in range(4)]) for g in grids)


SYMMETRIES = _symmetries()


class Game2048:
    """Single player; actions 0 up, 1 right, 2 down, 3 left (`ACTION_NAMES`)."""

    spec: EnvSpec = SPEC

    def __init__(self) -> None:
        self._board = np.zeros((SIZE, SIZE), dtype=np.int8)
        self._rng = np.random.default_rng()
        self._after: list[tuple[np.ndarray, int]] = []
        self._done = False
        self.score = 0
        self._copies = 0

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._rng = np.random.default_rng(seed)
        self._board[:] = 0
        self.score = 0
        self._spawn()
        self._spawn()
        self._refresh()
        return self._observation()

    def _spawn(self) -> None:
        empty = np.flatnonzero(self._board.reshape(-1) == 0)
        cell = int(empty[self._rng.integers(len(empty))])
        self._board.reshape(-1)[cell] = 2 if self._rng.random() < FOUR_PROBABILITY else 1

    def _refresh(self) -> None:
        """Every move's result, for the legal mask and the next step."""
        self._after = [slide(self._board, a) for a in range(4)]
        self._legal = np.array([not np.array_equal(b, self._board) for b, _ in self._after])
        self._done = not self._legal.any()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        if self._done:
            raise ValueError("2048: the game is over; call reset()")
        if not 0 <= action < 4 or not self._legal[action]:
            raise ValueError(f"2048: move {action} changes nothing here (legal: {np.flatnonzero(self._legal).tolist()})")
        board, reward = self._after[action]
        self._board[:] = board
        self.score += reward
        self._spawn()
        self._refresh()
        self._copies = 0
        return self._observation(), float(reward), self._done, False

    def legal_mask(self) -> np.ndarray:
        return self._legal.copy()

    def to_play(self) -> int:
        return 0

    def is_over(self) -> bool:
        return self._done

    def symmetries(self) -> tuple[Symmetry, ...]:
        return SYMMETRIES

    def board(self) -> np.ndarray:
        """int8 [4, 4] exponents (a copy): 0 empty, k a tile of 2^k."""
        return self._board.copy()

    def max_tile(self) -> int:
        return int(1 << int(self._board.max())) if self._board.any() else 0

    def clone(self) -> Game2048:
        """An independent copy whose spawns come from a stream of its own (a search's copies must
        not see the real game's next tiles)."""
        other = Game2048.__new__(Game2048)
        other._board = self._board.copy()
        other._after, other._legal, other._done = list(self._after), self._legal.copy(), self._done
        other.score, other._copies = self.score, 0
        self._copies += 1
        other._rng = independent_generator(self._rng, self._copies)
        return other

    def render(self) -> str:
        rows = [" ".join(f"{(1 << int(t)) if t else '.':>5}" for t in row) for row in self._board]
        return "\n".join(rows) + f"\nscore {self.score}"

    def _observation(self) -> np.ndarray:
        obs = np.zeros((PLANES, SIZE, SIZE), dtype=np.float32)
        np.put_along_axis(obs, np.minimum(self._board, PLANES - 1)[None].astype(np.int64), 1.0, axis=0)
        return obs
