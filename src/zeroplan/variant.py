"""What a perturbed evaluation environment changes (`Variant`), as plain data
checked at the config's door (`run.eval_variants`). It sits beside the config,
below envs/, which builds the perturbed environments (`envs.variants`)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping


ALLOWED_KEYS = ("name", "physics", "scale", "env_kwargs", "obs_noise", "sticky_actions")


@dataclass(frozen=True)
class Variant:
    """One perturbation of the training environment.

    physics: attributes set on the unwrapped Gymnasium env after it is made
        (absolute values, e.g. {"gravity": 3.7}).
    scale: attributes multiplied by a factor of their default (e.g. {"length": 2.0}),
        which reads better than absolute values when a default is not common knowledge.
    env_kwargs: merged over the env config's kwargs before the env is made
        (e.g. FrozenLake's {"desc": [...]} or {"is_slippery": False}).
    obs_noise: standard deviation of Gaussian noise added to every observation.
    sticky_actions: probability that the previous action is repeated instead of the chosen one.
    """

    name: str
    physics: Mapping[str, float] = field(default_factory=dict)
    scale: Mapping[str, float] = field(default_factory=dict)
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    obs_noise: float = 0.0
    sticky_actions: float = 0.0

    def __post_init__(self) -> None:
        _check_variant(self)

    def describe(self) -> str:
        """A short human-readable account of what the variant changes."""
        parts = [f"{k}={v:g}" for k, v in self.physics.items()]
        parts += [f"{k} x{v:g}" for k, v in self.scale.items()]
        parts += [f"{k}={v!r}" for k, v in self.env_kwargs.items()]
        if self.obs_noise:
            parts.append(f"obs noise std {self.obs_noise:g}")
        if self.sticky_actions:
            parts.append(f"sticky actions p={self.sticky_actions:g}")
        return ", ".join(parts)


def is_number(x: Any) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _check_variant(v: Variant) -> None:
    """Raise ValueError (without the entry's index; parse_variants adds it)."""
    if not isinstance(v.name, str) or not v.name.strip():
        raise ValueError(f"variant name must be a non-empty string, got {v.name!r}")
    if v.name == "train":
        raise ValueError("variant name 'train' is reserved for the training environment")
    for key in ("physics", "scale"):
        table = getattr(v, key)
        if not isinstance(table, Mapping):
            raise ValueError(f"variant {v.name!r}: {key} must be a mapping of attribute -> number, got {table!r}")
        for attr, value in table.items():
            if not isinstance(attr, str) or not is_number(value):
                raise ValueError(f"variant {v.name!r}: {key}.{attr} must be a finite number, got {value!r}")
    if not isinstance(v.env_kwargs, Mapping) or not all(isinstance(k, str) for k in v.env_kwargs):
        raise ValueError(f"variant {v.name!r}: env_kwargs must be a mapping of keyword -> value")
    if not is_number(v.obs_noise) or v.obs_noise < 0:
        raise ValueError(f"variant {v.name!r}: obs_noise must be a number >= 0, got {v.obs_noise!r}")
    if not is_number(v.sticky_actions) or not 0 <= v.sticky_actions <= 1:
        raise ValueError(f"variant {v.name!r}: sticky_actions must be a probability in [0, 1], "
                         f"got {v.sticky_actions!r}")
    if not (v.physics or v.scale or v.env_kwargs or v.obs_noise or v.sticky_actions):
        raise ValueError(f"variant {v.name!r} changes nothing; give at least one of "
                         f"{', '.join(ALLOWED_KEYS[1:])}")


def parse_variants(entries: list[dict[str, Any]]) -> list[Variant]:
    """User-declared variants (the config's `eval_variants`), checked at the door.

    Every problem is a ValueError that names the entry (by index and name) and,
    for an unknown key, lists the allowed ones.
    """
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"eval_variants must be a list of mappings, got {type(entries).__name__}")
    out: list[Variant] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"eval_variants[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping with keys {', '.join(ALLOWED_KEYS)}, got {entry!r}")
        unknown = sorted(str(k) for k in entry if k not in ALLOWED_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed keys: {', '.join(ALLOWED_KEYS)})")
        if "name" not in entry:
            raise ValueError(f"{where}: missing 'name' (allowed keys: {', '.join(ALLOWED_KEYS)})")
        kwargs = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in entry.items()}
        try:
            variant = Variant(**kwargs)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if variant.name in seen:
            raise ValueError(f"{where}: duplicate variant name {variant.name!r}")
        seen.add(variant.name)
        out.append(variant)
    return out
