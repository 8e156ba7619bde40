"""Copies of an environment for a search over the real rules (AlphaZero).

A copy must not know the real environment's future: a deep copy of a
stochastic env carries its random generator, so every copy would make the
very draws the real env makes next, and a search over copies would see which
way the dice fall. `independent_generator` gives a copy its own stream,
derived from the real generator's state (without drawing from it) and from
how many copies were made since the env last moved, so the same position
copied the same way gets the same streams: a resumed run, which rebuilds its
envs by replaying their actions, searches exactly as the uninterrupted one.
"""

from __future__ import annotations

import hashlib

import numpy as np


def independent_generator(gen: np.random.Generator, salt: int) -> np.random.Generator:
    """A generator whose stream is unrelated to `gen`'s, determined by `gen`'s state and `salt`."""
    digest = hashlib.blake2b(repr(gen.bit_generator.state).encode(), digest_size=16).digest()
    return np.random.default_rng([int.from_bytes(digest, "little"), int(salt)])
