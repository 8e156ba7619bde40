"""Settings for an environment that has no preset, derived from what it is.

An environment whose episodes need not end gets a time limit. The network follows the observation (a residual conv net for images, an MLP
otherwise); the value/reward support is sized from the returns of a few
random episodes, so that h(return) fits on it with room to improve; two-player
games get no discount and a unit support (they end in win, draw or loss).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zeroplan.config import EnvConfig
from zeroplan.envs.gym import GymEnv, time_limit

EPISODE_LIMIT = 1000  # steps, for an environment that sets no time limit of its own
SAMPLED_ACTIONS = 16  # actions sampled per node of the search, for continuous actions


def _h(x: float) -> float:
    return math.sqrt(abs(x) + 1) - 1 + 0.001 * abs(x)


def random_returns(env, episodes: int = 5, max_steps: int = 2000, seed: int = 0) -> tuple[list[float], float]:
    """Undiscounted returns of uniformly random legal play, and the largest |reward| seen."""
    rng = np.random.default_rng(seed)
    returns, biggest = [], 0.0
    for e in range(episodes):
        env.reset(seed=seed + e)
        total = 0.0
        for _ in range(max_steps):
            if env.spec.action_dim:  # continuous: uniform over the (scaled) box
                action = rng.uniform(-1.0, 1.0, env.spec.action_dim)
            else:
                action = int(rng.choice(np.flatnonzero(env.legal_mask())))
            _, reward, terminated, truncated = env.step(action)
            total += reward
            biggest = max(biggest, abs(reward))
            if terminated or truncated:
                break
        returns.append(total)
    return returns, biggest


def ensure_episode_limit(env_config: EnvConfig) -> tuple[EnvConfig, str | None]:
    """Every episode ends: a Gymnasium env that sets no time limit of its own
    (CliffWalking-v1, many users' envs) gets `EPISODE_LIMIT` steps, and a note
    saying so; any other config comes back as it was, with no note."""
    from zeroplan.envs import make_env

    if env_config.max_episode_steps is not None:
        return env_config, None
    env = make_env(env_config)
    if not isinstance(env, GymEnv) or time_limit(env) is not None:
        return env_config, None
    note = f"env.max_episode_steps={EPISODE_LIMIT} (the env sets no time limit; every episode must end)"
    return env_config.model_copy(update={"max_episode_steps": EPISODE_LIMIT}), note


def derive_defaults(env_config: EnvConfig, episodes: int = 5) -> tuple[dict[str, Any], list[str]]:
    """(config overrides, one line of explanation per derived setting)."""
    from zeroplan.envs import make_env
    from zeroplan.envs.user import check_user_env, is_user_env

    if is_user_env(env_config.id):  # Gymnasium's checker speaks first
        check_user_env(env_config.id, env_config.max_episode_steps, env_config.kwargs)
    out: dict[str, Any] = {"net": {}, "search": {}}
    why: list[str] = []
    limited, note = ensure_episode_limit(env_config)
    if note is not None:
        out["env"] = {"max_episode_steps": limited.max_episode_steps}
        why.append(note)
    env = make_env(limited)
    spec = env.spec
    image = len(spec.obs_shape) == 3
    out["net"]["kind"] = "resnet" if image and not spec.action_dim else "mlp"
    why.append(f"net.kind={out['net']['kind']} (observation shape {spec.obs_shape})")
    if spec.action_dim:
        out["search"]["sampled_actions"] = SAMPLED_ACTIONS
        why.append(f"search.sampled_actions={SAMPLED_ACTIONS} (continuous actions, {spec.action_dim} dimensions: "
                   "Sampled MuZero)")
    if spec.num_players == 2:
        out["search"]["discount"] = 1.0
        out["net"]["support_size"] = 1
        why.append("search.discount=1.0, net.support_size=1 (a two-player game: outcomes in [-1, 1])")
        return out, why
    returns, biggest = random_returns(env, episodes)
    scale = max([abs(r) for r in returns] + [biggest, 1.0])
    support = int(min(300, max(5, math.ceil(_h(3.0 * scale)))))
    out["net"]["support_size"] = support
    why.append(f"net.support_size={support} (random play: returns {min(returns):g} to {max(returns):g}, "
               f"largest |reward| {biggest:g}; the support covers h(3 x {scale:g}))")
    return out, why
