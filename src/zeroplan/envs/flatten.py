"""Structured observation spaces as one float32 vector: a Box flattened, a
Discrete one-hot, a MultiDiscrete one-hot per part, a MultiBinary as 0/1, and
a Tuple or Dict as its parts end to end (a Dict in its keys' order). So
Blackjack-v1's Tuple(Discrete(32), Discrete(11), Discrete(2)) is 45 numbers."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Encoder = Callable[[Any, np.ndarray], None]  # writes one observation into its slice


def flat_encoder(space) -> tuple[int, Encoder] | None:
    """(size, encoder) of `space` flattened, or None for a space it cannot encode."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        size = int(np.prod(space.shape, dtype=np.int64))
        return size, lambda x, out: out.__setitem__(slice(None), np.asarray(x, dtype=np.float32).reshape(-1))
    if isinstance(space, spaces.Discrete):
        n, start = int(space.n), int(space.start)
        return n, lambda x, out: _one_hot(int(x) - start, n, out)
    if isinstance(space, spaces.MultiBinary):
        size = int(np.prod(space.shape, dtype=np.int64))
        return size, lambda x, out: out.__setitem__(slice(None), np.asarray(x, dtype=np.float32).reshape(-1))
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec, dtype=np.int64).reshape(-1)
        start = np.asarray(getattr(space, "start", np.zeros_like(space.nvec)), dtype=np.int64).reshape(-1)
        offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])

        def multi(x, out) -> None:
            out[:] = 0.0
            values = np.asarray(x, dtype=np.int64).reshape(-1) - start
            if ((values < 0) | (values >= nvec)).any():
                raise ValueError(f"value {x!r} outside {space}")
            out[offsets + values] = 1.0

        return int(nvec.sum()), multi
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        keys = list(space.spaces) if isinstance(space, spaces.Dict) else list(range(len(space.spaces)))
        parts = [flat_encoder(space.spaces[k]) for k in keys]
        if any(p is None for p in parts):
            return None
        bounds = np.cumsum([0] + [size for size, _ in parts])

        def joined(x, out) -> None:
            for k, (_, encode), lo, hi in zip(keys, parts, bounds[:-1], bounds[1:]):
                encode(x[k], out[lo:hi])

        return int(bounds[-1]), joined
    return None


def _one_hot(index: int, n: int, out: np.ndarray) -> None:
    if not 0 <= index < n:
        raise ValueError(f"discrete value {index} outside 0..{n - 1}")
    out[:] = 0.0
    out[index] = 1.0
