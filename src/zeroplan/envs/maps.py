"""FrozenLake maps: the training env's own, and others of the same size.

FrozenLake observations are one-hot over the cells, so a network trained on a
4x4 lake can only be shown other 4x4 lakes. Other maps come from Gymnasium's
generator (which guarantees a path from start to goal) with fixed seeds, so the
built-in generalization table is the same from one run to the next.
"""

from __future__ import annotations

from zeroplan.config import EnvConfig
from zeroplan.envs.gym import make_gym


def frozenlake_desc(config: EnvConfig) -> list[str]:
    """The map the training env uses, read from a freshly made env (whatever
    combination of id, map_name and desc produced it)."""
    env = make_gym(config.id, config.max_episode_steps, config.kwargs)
    try:
        return [b"".join(row).decode() for row in env.unwrapped.desc]
    finally:
        env.close()


def random_frozenlake_maps(size: int, count: int, avoid: list[str], first_seed: int = 1) -> list[list[str]]:
    """`count` distinct maps of `size` x `size` cells, none equal to `avoid`."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    maps: list[list[str]] = []
    seed = first_seed
    while len(maps) < count:
        desc = list(generate_random_map(size=size, seed=seed))
        if desc != list(avoid) and desc not in maps:
            maps.append(desc)
        seed += 1
    return maps
