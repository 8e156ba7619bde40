"""Search spaces for `zeroplan tune`: dotted config keys to ranges or
choices, checked against the algorithm's config like a config file is."""

from __future__ import annotations

import difflib
import math
import typing
from pathlib import Path
from typing import Any, Callable, Union

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from zeroplan.config import ConfigError, set_dotted

# Ranges by config key. Integer fields get integer ranges; `choices` are tried as given.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "muzero": {
        "train.lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "search.num_simulations": {"low": 8, "high": 50, "log": True},
        "train.replay_ratio": {"low": 0.1, "high": 1.0, "log": True},
        "replay.unroll_steps": {"low": 3, "high": 8},
        "replay.td_steps": {"low": 5, "high": 50, "log": True},
        "net.latent_dim": {"choices": [32, 64, 128]},
    },
    "pets": {
        "model.lr": {"low": 3e-4, "high": 3e-3, "log": True},
        "model.hidden": {"choices": [64, 128, 200]},
        "planner.horizon": {"low": 10, "high": 30},
        "planner.population": {"choices": [100, 200, 400]},
    },
}
# AlphaZero: MuZero's settings but the unroll (it has no dynamics to train).
DEFAULT_SPACES["alphazero"] = {k: v for k, v in DEFAULT_SPACES["muzero"].items() if k != "replay.unroll_steps"}
# For residual (board-game) MuZero and AlphaZero presets the width is the channel count.
RESNET_WIDTH = ("net.latent_dim", "net.channels", {"choices": [32, 64, 128]})

Choice = Union[bool, int, float, str]


class SpaceError(ConfigError):
    """A search space that cannot be used; the message names the entry."""


class Param(BaseModel):
    """One entry of a search space: `low`/`high` (with `log`, `step`) or `choices`."""

    model_config = ConfigDict(extra="forbid")
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Choice] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Param:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("give either choices or low/high (with log or step), not both")
            if not self.choices:
                raise ValueError("choices is empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, got {self.low:g}")
        if self.step is not None and (self.step <= 0 or self.log):
            raise ValueError("step must be > 0 and cannot go with log")
        return self


def _field_type(model: type[BaseModel], key: str, source: str) -> Any:
    """The annotation of the config field a dotted key names; SpaceError naming it if none."""
    node: Any = model
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = getattr(node, "model_fields", None)
        if fields is None or part not in fields:
            known = list(fields) if fields else []
            close = difflib.get_close_matches(part, known, n=1)
            where = ".".join(parts[:depth]) or "the config"
            hint = f" (did you mean {'.'.join(parts[:depth] + close)}?)" if close else ""
            raise SpaceError(f"{source}: {key!r} is not a config setting: {where} has no {part!r}{hint}")
        node = fields[part].annotation
    if isinstance(node, type) and issubclass(node, BaseModel):
        raise SpaceError(f"{source}: {key!r} is a config section; name one of its settings")
    return node


def _numeric_kind(annotation: Any) -> str | None:
    """"int" or "float" for a numeric field (optional ones included), else None."""
    args = set(typing.get_args(annotation)) or {annotation}
    args.discard(type(None))
    if args == {int}:
        return "int"
    if args <= {int, float} and float in args:
        return "float"
    return None


class Space:
    """A validated search space: Optuna distributions by dotted config key."""

    def __init__(self, entries: dict[str, Param], distributions: dict[str, Any]):
        self.entries = entries
        self.distributions = distributions

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {k: p.model_dump(exclude_defaults=True) for k, p in self.entries.items()}


def build_space(raw: Any, algo: str, check: Callable[[dict], None], source: str = "search space") -> Space:
    """Check a search-space mapping against the algorithm's config (every key
    a setting, numeric ranges on numeric settings, integers on integer ones,
    both ends and every choice accepted by the config, tried with `check`)."""
    import optuna

    if not isinstance(raw, dict) or not raw:
        raise SpaceError(f"{source}: expected a mapping of config keys to ranges, e.g. "
                         "`train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}`")
    model = _config_model(algo)
    entries, dists = {}, {}
    for key, spec in raw.items():
        key = str(key)
        kind = _numeric_kind(_field_type(model, key, source))
        try:
            param = Param.model_validate(spec)
        except ValidationError as err:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
            raise SpaceError(f"{source}: {key}: {msgs}") from None
        if param.choices is None:
            if kind is None:
                raise SpaceError(f"{source}: {key} is not a number; give it `choices` instead of low/high")
            if kind == "int":
                if not all(float(v).is_integer() for v in (param.low, param.high, param.step or 1)):
                    raise SpaceError(f"{source}: {key} is an integer setting; low, high and step must be integers")
                dist = optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log,
                                                            step=int(param.step or 1))
                tries = [dist.low, dist.high]
            else:
                dist = optuna.distributions.FloatDistribution(param.low, param.high, log=param.log, step=param.step)
                tries = [param.low, param.high]
        else:
            dist = optuna.distributions.CategoricalDistribution(param.choices)
            tries = list(param.choices)
        for value in tries:
            try:
                check(nested({key: value}))
            except ConfigError as err:
                raise SpaceError(f"{source}: {key}: the value {value!r} is not accepted by the config ({err})") \
                    from None
        entries[key], dists[key] = param, dist
    return Space(entries, dists)


def _config_model(algo: str) -> type[BaseModel]:
    if algo == "pets":
        from zeroplan.mbrl.config import PetsConfig

        return PetsConfig
    from zeroplan.config import Config

    return Config


def nested(params: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in params.items():
        set_dotted(tree, key, value)
    return tree


def default_space(algo: str, config: Any) -> dict[str, dict[str, Any]]:
    space = {k: dict(v) for k, v in DEFAULT_SPACES[algo].items()}
    if algo in ("muzero", "alphazero") and config.net.kind == "resnet":
        old, new, spec = RESNET_WIDTH
        space.pop(old, None)
        space[new] = spec
    return space


def load_space_file(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpaceError(f"{path}: cannot read ({err.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: not valid YAML ({err})") from None
