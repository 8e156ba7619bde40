"""`--set key=value` overrides: what a value may be (a plain scalar or a flat
list, never YAML: no tags, no mappings), the nested dict the pairs make, and
how it merges over a preset. A refusal is a ConfigError naming the key."""

from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A config value or key that cannot be used; the message names it."""


_NULLS = {"", "null", "none", "~"}
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_PLAIN_HELP = "a number, true/false, null, a string, or a flat list like [1, 2]"


def parse_scalar(raw: str) -> Any:
    """One plain value as written on a command line: a number, a boolean, null,
    or else the text itself (quotes stripped). Never YAML with tags or structure."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    low = text.lower()
    if low in _NULLS:
        return None
    if low in _BOOLS:
        return _BOOLS[low]
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        if math.isfinite(number):  # "inf" and "nan" stay text, which no numeric setting accepts
            return number
    if text[:1] in "!&*{[]}|>%@`" or text[:1] == "#":
        raise ValueError(f"{raw!r} is not a plain value ({_PLAIN_HELP})")
    return text


def parse_value(raw: str) -> Any:
    """A `--set` value: a plain scalar, or a flat list `[a, b, ...]` of them."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        if not inner:
            return []
        if any(c in inner for c in "[]{}"):
            raise ValueError(f"{raw!r}: lists hold plain values, not other lists or mappings ({_PLAIN_HELP})")
        return [parse_scalar(item) for item in inner.split(",")]
    return parse_scalar(text)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """["search.num_simulations=16", ...] -> nested dict. Values are plain
    scalars or flat lists (`parse_value`), never YAML: a tag or a mapping is
    refused with a message naming the key."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like section.key=value")
        key, raw = pair.split("=", 1)
        try:
            value = parse_value(raw)
        except ValueError as err:
            raise ConfigError(f"--set {key.strip()}: {err}") from None
        set_dotted(out, key.strip(), value)
    return out


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def search_overrides(pairs: list[str]) -> dict[str, Any]:
    """["search.num_simulations=64", ...] -> {"num_simulations": 64}: what a trained
    agent may change (its weights do not depend on the search); other keys are refused."""
    overrides = parse_overrides(pairs)
    if set(overrides) - {"search"}:
        raise ConfigError(f"--set changes only search.* settings (got {', '.join(sorted(overrides))}); "
                          "the others are what the agent was trained with")
    return overrides.get("search", {})


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
