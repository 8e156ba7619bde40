"""Perturbed environments for generalization tests.

An agent that has only learned one environment's exact dynamics is found out
by changing them a little: a longer pole, a heavier one, noisy observations,
an action that sometimes fails to take effect, another map. A `Variant` says
what to change; `variant_factory` builds turn-based environments with the
change applied. Variants are plain data (picklable, comparable), so they can
be declared in a config (`parse_variants`) and carried into any worker.

Everything is deterministic given the factory's seed and the seeds passed to
`reset`, so a generalization table can be reproduced and two agents compared
on the same perturbed episodes.
"""

from __future__ import annotations

from typing import Callable

from zeroplan.config import EnvConfig
from zeroplan.variant import ALLOWED_KEYS, Variant, is_number, parse_variants  # noqa: F401 (re-exported)
from zeroplan.envs.gym import EnvError, GymEnv
from zeroplan.envs.wrappers import ObservationNoise, StickyActions

# --- built-in variant lists ----------------------------------------------------------------

def _cartpole() -> list[Variant]:
    out = []
    for attr, label in (("length", "pole length"), ("masspole", "pole mass"), ("gravity", "gravity"),
                        ("force_mag", "force")):
        for factor in (0.5, 2.0):
            out.append(Variant(f"{label} x{factor:g}", scale={attr: factor}))
    return out


def _frozenlake(config: EnvConfig) -> list[Variant]:
    """Two other maps of the training map's size (the observation is one-hot over
    the cells, so only same-sized maps fit the network), and the other slipperiness."""
    from zeroplan.envs.maps import frozenlake_desc, random_frozenlake_maps

    desc = frozenlake_desc(config)
    maps = random_frozenlake_maps(len(desc), count=2, avoid=desc)
    out = [Variant(f"map #{i + 1}", env_kwargs={"desc": m}) for i, m in enumerate(maps)]
    slippery = bool(config.kwargs.get("is_slippery", True))
    out.append(Variant("slippery" if not slippery else "not slippery", env_kwargs={"is_slippery": not slippery}))
    return out


def _any_env() -> list[Variant]:
    return [Variant("obs noise 0.1", obs_noise=0.1), Variant("sticky 0.25", sticky_actions=0.25)]


def builtin_variants(config: EnvConfig) -> list[Variant]:
    """The variants `zeroplan eval --generalize` tries when the config declares none."""
    base = config.id.split("-v")[0]
    specific = {"CartPole": _cartpole, "FrozenLake": lambda: _frozenlake(config),
                "FrozenLake8x8": lambda: _frozenlake(config)}.get(base)
    return (specific() if specific else []) + _any_env()


def merge_variants(builtin: list[Variant], declared: list[Variant]) -> list[Variant]:
    """Built-in variants followed by declared ones; a declared variant replaces a built-in of the same name."""
    names = {v.name for v in declared}
    return [v for v in builtin if v.name not in names] + list(declared)


# --- building environments ---------------------------------------------------------------

def _apply_physics(env: GymEnv, variant: Variant) -> None:
    inner = env.env.unwrapped
    changes: dict[str, float] = {}
    for attr, factor in variant.scale.items():
        changes[attr] = _numeric_attr(inner, attr, variant) * float(factor)
    for attr, value in variant.physics.items():
        _numeric_attr(inner, attr, variant)
        changes[attr] = float(value)
    for attr, value in changes.items():
        setattr(inner, attr, value)
    _recompute_derived(inner)


def _numeric_attr(inner, attr: str, variant: Variant) -> float:
    value = getattr(inner, attr, None)
    if not is_number(value):
        numeric = sorted(k for k, v in vars(inner).items() if not k.startswith("_") and is_number(v))
        raise EnvError(f"variant {variant.name!r}: {type(inner).__name__} has no numeric attribute {attr!r} "
                       f"(numeric attributes: {', '.join(numeric) or 'none'})")
    return float(value)


def _recompute_derived(inner) -> None:
    """Some envs cache quantities derived from their constants at construction;
    without this a changed pole length would not reach CartPole's dynamics."""
    if type(inner).__name__ == "CartPoleEnv":
        inner.total_mass = inner.masspole + inner.masscart
        inner.polemass_length = inner.masspole * inner.length


def variant_factory(env_config: EnvConfig, variant: Variant, seed: int) -> Callable[[], object]:
    """A callable returning fresh turn-based envs with `variant` applied.

    The noise and stickiness random streams are seeded from `seed` and each
    `reset(seed=...)`, so episodes are reproducible whatever order the envs are made in.
    """
    from zeroplan.envs import make_env

    config = env_config
    if variant.env_kwargs:
        config = env_config.model_copy(update={"kwargs": {**env_config.kwargs, **variant.env_kwargs}})
    counter = iter(range(1 << 62))

    def make() -> object:
        env = make_env(config)
        if variant.physics or variant.scale:
            if not isinstance(env, GymEnv):
                raise EnvError(f"variant {variant.name!r}: physics changes need a Gymnasium env, "
                               f"{env_config.id!r} is not one")
            _apply_physics(env, variant)
        elif variant.env_kwargs and not isinstance(env, GymEnv):
            raise EnvError(f"variant {variant.name!r}: env_kwargs need a Gymnasium env, {env_config.id!r} is not one")
        index = next(counter)
        if variant.sticky_actions:
            env = StickyActions(env, variant.sticky_actions, seed=seed, stream=index)
        if variant.obs_noise:
            env = ObservationNoise(env, variant.obs_noise, seed=seed, stream=index)
        return env

    return make


def check_same_interface(spec, other, variant: Variant) -> None:
    """A variant must present the agent with the arrays it was trained on."""
    if tuple(spec.obs_shape) != tuple(other.obs_shape) or spec.num_actions != other.num_actions:
        raise EnvError(f"variant {variant.name!r}: observations {other.obs_shape} and {other.num_actions} actions, "
                       f"the agent was trained on {spec.obs_shape} and {spec.num_actions}")


__all__ = ["Variant", "parse_variants", "builtin_variants", "merge_variants", "variant_factory",
           "check_same_interface", "ALLOWED_KEYS"]
