"""Agents that ship with the package: `pretrained:NAME` wherever a command takes
a run directory, `zeroplan.pretrained(NAME)` in Python (this package is named
`shipped` so that the function and a module do not share the name `zeroplan.pretrained`).

Each agent is a checkpoint directory here (safetensors + JSON, the same
format a run writes), made by `benchmarks/pretrained.py`; `cards.json` says
for each how it was trained and what it measured (`card(NAME)`). This module
only finds them: it is data, below every other room, so the one place that
picks checkpoints (`io.checkpoint.find_checkpoint`) can resolve the names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "pretrained:"
_HERE = Path(__file__).parent


def names() -> list[str]:
    """The shipped agents, sorted."""
    return sorted(p.name for p in _HERE.iterdir() if (p / "manifest.json").is_file())


def is_pretrained(path: str | Path) -> bool:
    return str(path).startswith(PREFIX)


def path_of(ref: str | Path) -> Path:
    """The checkpoint directory of `pretrained:NAME` (or of a bare NAME)."""
    name = str(ref)[len(PREFIX):] if is_pretrained(ref) else str(ref)
    available = names()
    if name not in available:
        raise KeyError(f"no pretrained agent {name!r}; the package ships: {', '.join(available) or 'none'}")
    return _HERE / name


def cards() -> dict[str, dict[str, Any]]:
    """How each shipped agent was made and what it measured (`benchmarks/pretrained.py` writes it)."""
    path = _HERE / "cards.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def card(name: str) -> dict[str, Any]:
    return cards().get(name, {})
