"""What a `--set key=value` value may be: a plain scalar or a flat list, never
YAML (no tags, no mappings). The config's door (config.parse_overrides) adds
the key to any refusal."""

from __future__ import annotations

import math
from typing import Any

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
