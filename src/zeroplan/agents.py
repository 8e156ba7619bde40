"""The algorithms zeroplan knows, by name: the `zeroplan` command and
`zeroplan.load` dispatch through this table, so a new algorithm is a new entry
(an agent class with the shared surface below), not new branches in cli.py.

The surface every agent class offers:

    Agent.config_for(env, overrides, dotted) -> (config, notes)   # the validated config; notes to print
    Agent(config=..., run_dir=..., tensorboard=...)                 # a new run
    Agent.resume(run_dir, run_overrides)                            # carry on from checkpoints/last
    Agent.load(path)                                                # a saved agent, for acting only
    agent.learn(progress_bar=...) -> result                         # result.stopped_by_signal says if a signal ended it
    agent.predict(obs, deterministic=True)                         # AlphaZero: also env=, the env obs came from
    agent.evaluate(episodes, seed=...) -> dict
    agent.save(path); agent.summary(result) -> dict; agent.close()
    agent.notes                                                     # settings settled for the config, to print
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroplan.config import ConfigError


@dataclass(frozen=True)
class Algorithm:
    name: str
    module: str  # where the agent class lives (imported on use: torch and friends load only when needed)
    class_name: str
    help: str
    budget: str  # the run.* setting that says how much to train: max_env_steps or max_episodes
    backends: tuple[str, ...] = ("local",)
    warm_start: bool = False  # --init-from
    search_settings: bool = False  # eval --set search.*
    single_player_extras: bool = False  # eval --generalize
    two_player: bool = False  # eval --opponent / --openings

    def agent_class(self) -> Any:
        return getattr(importlib.import_module(self.module), self.class_name)


ALGORITHMS: dict[str, Algorithm] = {
    "muzero": Algorithm("muzero", "zeroplan.muzero.agent", "MuZero",
                        "a learned model searched by MCTS (continuous actions by sampling them)", "max_env_steps",
                        backends=("local", "ray"), warm_start=True, search_settings=True, single_player_extras=True,
                        two_player=True),
    "alphazero": Algorithm("alphazero", "zeroplan.muzero.agent", "AlphaZero",
                           "board games and envs that can be copied: MCTS over the real rules", "max_env_steps",
                           backends=("local", "ray"), warm_start=True, search_settings=True,
                           single_player_extras=True, two_player=True),
    "pets": Algorithm("pets", "zeroplan.mbrl.pets", "PETS",
                      "continuous actions: a learned dynamics ensemble with MPC", "max_episodes"),
}


def algorithm(name: str | None) -> Algorithm:
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def algo_of(path: str | Path) -> str | None:
    """The algorithm of a run directory's last checkpoint, or of a checkpoint
    directory (None when there is none to read, or it names no algorithm we
    have, e.g. a flipped bit: the full check, whose message names the damaged
    file, comes when it is loaded)."""
    path = Path(path)
    for meta in (path / "meta.json", path / "checkpoints" / "last" / "meta.json",
                 path / "checkpoints" / ".last.old" / "meta.json"):
        if meta.is_file():
            try:
                algo = json.loads(meta.read_text()).get("algo")
                return algo if algo in ALGORITHMS else None
            except (ValueError, UnicodeDecodeError, AttributeError, OSError):
                return None
    return None


def load(path: str | Path, **kwargs: Any) -> Any:
    """A saved agent of any algorithm (a checkpoint directory, or a run directory:
    its best checkpoint, else its last)."""
    from zeroplan.io.checkpoint import Checkpoint, find_checkpoint

    found = find_checkpoint(path)
    name = Checkpoint(found).meta.get("algo")
    if name not in ALGORITHMS:
        raise ConfigError(f"{found}: a checkpoint of unknown algorithm {name!r}")
    return algorithm(name).agent_class().load(found, **kwargs)


def pretrained(name: str, **kwargs: Any) -> Any:
    """An agent shipped with the package, by name (`zeroplan.shipped.names()`):
    the same as `load("pretrained:NAME")`; `search={...}` changes its search settings."""
    from zeroplan.shipped import PREFIX, is_pretrained

    return load(name if is_pretrained(name) else PREFIX + name, **kwargs)
