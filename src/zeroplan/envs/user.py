"""Your own environment, named `module:Name` (a class or a function returning
an environment), e.g. `zeroplan train my_envs:Corridor`.

What `Name()` returns may be either
- a Gymnasium `Env` with a Discrete action space: wrapped like any registered
  Gymnasium env, after Gymnasium's own `check_env` has looked at it; or
- an object on zeroplan's turn-based contract (`spec`, `reset`, `step`,
  `legal_mask`, `to_play`; see envs/spec.py), e.g. a two-player board game:
  used as it is, after a one-episode check of shapes and types.

The current directory is searched first for the module, as `python -c` would.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any, Callable

import numpy as np

from zeroplan.envs.gym import EnvError
from zeroplan.envs.spec import EnvSpec, TurnBasedEnv


def is_user_env(env_id: str) -> bool:
    module, _, name = env_id.partition(":")
    return bool(module) and bool(name) and module not in ("pettingzoo", "openspiel") and "/" not in module


def resolve(env_id: str) -> Callable[..., Any]:
    """The class or function `module:Name` names."""
    module_name, _, attr = env_id.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise EnvError(f"{env_id}: cannot import module {module_name!r} ({err}); is it on PYTHONPATH or in the "
                       "current directory?") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(module) if not n.startswith("_"))
            raise EnvError(f"{env_id}: module {module_name!r} has no {attr!r} (it has: {', '.join(public[:12])})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise EnvError(f"{env_id}: {attr!r} is not a class or function")
    return obj


def make_user_env(env_id: str, max_episode_steps: int | None = None, kwargs: dict[str, Any] | None = None,
                  image_size: tuple[int, int] | None = None, grayscale: bool = False, action_repeat: int = 1):
    factory = resolve(env_id)
    try:
        env = factory(**(kwargs or {}))
    except Exception as err:
        raise EnvError(f"{env_id}: constructing the environment raised {type(err).__name__}: {err}") from None
    if _is_gym(env):
        from zeroplan.envs.gym import GymEnv, _gym

        if max_episode_steps is not None:
            env = _gym().wrappers.TimeLimit(env, max_episode_steps)
        return GymEnv(env, name=env_id, image_size=image_size, grayscale=grayscale, action_repeat=action_repeat)
    if isinstance(env, TurnBasedEnv) and isinstance(getattr(env, "spec", None), EnvSpec):
        return env
    raise EnvError(f"{env_id}: returned {type(env).__name__}, which is neither a gymnasium.Env nor on zeroplan's "
                   "turn-based contract (spec: EnvSpec, reset, step, legal_mask, to_play; see docs/custom_envs.md)")


def _is_gym(env: Any) -> bool:
    try:
        import gymnasium
    except ImportError:
        return False
    return isinstance(env, gymnasium.Env)


def check_user_env(env_id: str, max_episode_steps: int | None = None, kwargs: dict[str, Any] | None = None) -> None:
    """Check a user env once, before training: Gymnasium's `check_env` for a
    Gymnasium env, an episode of legal random moves for a turn-based one."""
    env = make_user_env(env_id, max_episode_steps, kwargs)  # our own space checks first: they say what to do
    raw = resolve(env_id)(**(kwargs or {}))
    if _is_gym(raw):
        from gymnasium.utils.env_checker import check_env

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # advice, not errors; errors raise
                check_env(raw, skip_render_check=True)
        except Exception as err:
            raise EnvError(f"{env_id}: Gymnasium's env checker: {type(err).__name__}: {err}") from None
        finally:
            raw.close()
    _one_episode(env, env_id)


def _one_episode(env, env_id: str, max_steps: int = 1000) -> None:
    spec = env.spec
    rng = np.random.default_rng(0)
    obs = np.asarray(env.reset(seed=0))
    for t in range(max_steps + 1):
        if obs.shape != spec.obs_shape:
            raise EnvError(f"{env_id}: step {t} gave an observation of shape {obs.shape}, spec says {spec.obs_shape}")
        if obs.dtype.kind == "f" and not np.isfinite(obs).all():
            raise EnvError(f"{env_id}: step {t} gave a non-finite observation")
        legal = np.asarray(env.legal_mask(), dtype=bool)
        if legal.shape != (spec.num_actions,) or not legal.any():
            raise EnvError(f"{env_id}: step {t}: legal_mask() must be {spec.num_actions} booleans with one True, "
                           f"got {legal!r}")
        if env.to_play() not in range(spec.num_players):
            raise EnvError(f"{env_id}: step {t}: to_play() returned {env.to_play()!r}, "
                           f"expected 0..{spec.num_players - 1}")
        out = env.step(int(rng.choice(np.flatnonzero(legal))))
        if not (isinstance(out, tuple) and len(out) == 4):
            raise EnvError(f"{env_id}: step() must return (obs, reward, terminated, truncated), got {out!r}"[:300])
        obs, reward, terminated, truncated = out
        obs = np.asarray(obs)
        if not np.isfinite(float(reward)):
            raise EnvError(f"{env_id}: step {t + 1} returned a non-finite reward {reward}")
        if terminated or truncated:
            return
