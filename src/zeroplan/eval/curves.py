"""Learning curves from finished (or running) training runs.

A run directory written by `zeroplan train` keeps `metrics.csv`, whose rows with
an `eval/mean_reward` cell are the evaluations, and `config.json`. Runs whose
configs differ only in the seed (and in how long they were allowed to run) are
seeds of one setting; they are drawn together as a mean line inside the band
their min and max span, against env steps and against training seconds
(evaluation time excluded, so settings that evaluate more often are not
penalised for it). The Agg canvas is used directly, as in `plots.py`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zeroplan.shipped import is_pretrained

EVAL, ELAPSED, EVAL_TIME = "eval/mean_reward", "time/elapsed_s", "time/eval_s"
# Run settings that change how long a run goes on, not what it learns.
_LENGTH_KEYS = ("seed", "max_env_steps", "max_minutes", "checkpoint_seconds")


class CurveError(ValueError):
    """A run directory that cannot be read as a learning curve."""


@dataclass
class Curve:
    label: str
    env_steps: np.ndarray
    seconds: np.ndarray  # training seconds at each evaluation; NaN without time columns
    returns: np.ndarray
    seed: int | None = None


def _number(cell: str | None) -> float:
    return float(cell) if cell not in (None, "") else float("nan")


def _eval_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        if is_pretrained(run_dir):
            raise CurveError(f"{run_dir}: a shipped agent has no learning curves (its card in zeroplan/shipped/"
                             "cards.json says how it was trained)")
        raise CurveError(f"{run_dir}: no metrics.csv")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError, OSError) as e:
        raise CurveError(f"{run_dir}: metrics.csv is unreadable ({e})") from None
    if "env_steps" not in fields:
        raise CurveError(f"{run_dir}: metrics.csv is malformed (no env_steps column)")
    evals = [r for r in rows if r.get(EVAL) not in (None, "")]
    if not evals:
        raise CurveError(f"{run_dir}: metrics.csv has no evaluation rows (the run was never evaluated)")
    return evals


def _config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise CurveError(f"{run_dir}: config.json is unreadable ({e})") from None
    if not isinstance(config, dict):
        raise CurveError(f"{run_dir}: config.json is not an object")
    return config


def read_run(run_dir: str | Path) -> Curve:
    """The evaluations of one run, in env-step order; the label is the directory's name."""
    run_dir = Path(run_dir)
    rows = _eval_rows(run_dir)
    try:
        steps = np.array([float(r["env_steps"]) for r in rows])
        returns = np.array([float(r[EVAL]) for r in rows])
        seconds = np.array([_number(r.get(ELAPSED)) - _number(r.get(EVAL_TIME)) for r in rows])
    except (TypeError, ValueError) as e:
        raise CurveError(f"{run_dir}: metrics.csv is malformed ({e})") from None
    order = np.argsort(steps, kind="stable")
    seed = _section(_config(run_dir) or {}, "run").get("seed")
    return Curve(run_dir.resolve().name, steps[order], seconds[order], returns[order],
                 None if seed is None else int(seed))


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    section = config.get(name)
    return section if isinstance(section, dict) else {}


def _setting(config: dict[str, Any]) -> str:
    """The config with the run-length settings dropped, as a comparable string."""
    run = {k: v for k, v in _section(config, "run").items() if k not in _LENGTH_KEYS}
    return json.dumps({**config, "run": run}, sort_keys=True)


def group_runs(run_dirs: Sequence[str | Path]) -> dict[str, list[Curve]]:
    """Runs grouped by setting (seeds of one config together), labelled
    "<env id> (<n> seeds)", in the order the directories were given."""
    if not run_dirs:
        raise CurveError("no run directories given")
    groups: dict[str, tuple[str, str, list[Curve]]] = {}  # key -> (env id, first dir name, curves)
    for run_dir in map(Path, run_dirs):
        curve, config = read_run(run_dir), _config(run_dir)
        key = _setting(config) if config is not None else f"no config: {run_dir.resolve()}"
        env = str(_section(config, "env").get("id", curve.label)) if config is not None else curve.label
        groups.setdefault(key, (env, curve.label, []))[2].append(curve)
    envs = [env for env, _, _ in groups.values()]
    out: dict[str, list[Curve]] = {}
    for env, first, curves in groups.values():
        name = env if envs.count(env) == 1 or env == first else f"{env} {first}"
        label = f"{name} ({len(curves)} seed{'s' if len(curves) != 1 else ''})"
        while label in out:
            label += "'"
        out[label] = curves
    return out


def _xs(curve: Curve, x: str) -> np.ndarray:
    if x not in ("env_steps", "seconds"):
        raise ValueError(f"x must be 'env_steps' or 'seconds', not {x!r}")
    return curve.env_steps if x == "env_steps" else curve.seconds


def band(curves: Sequence[Curve], x: str = "env_steps", points: int = 200
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grid, mean, low, high) over the curves, on a grid over the x-range every
    curve covers; curves without seconds are left out when x is "seconds"."""
    orders = [(c, np.argsort(_xs(c, x), kind="stable")) for c in curves]
    pairs = [(_xs(c, x)[o].astype(float), c.returns[o].astype(float)) for c, o in orders]
    pairs = [(xs, ys) for xs, ys in pairs if len(xs) and not np.isnan(xs).any()]
    empty = np.array([], dtype=float)
    if not pairs:
        return empty, empty, empty, empty
    if len(pairs) == 1:
        xs, ys = pairs[0]
        return xs, ys, ys.copy(), ys.copy()
    start, stop = max(xs[0] for xs, _ in pairs), min(xs[-1] for xs, _ in pairs)
    if start > stop:
        return empty, empty, empty, empty
    grid = np.unique(np.linspace(start, stop, points))
    values = np.stack([np.interp(grid, xs, ys) for xs, ys in pairs])
    return grid, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def _panel(ax: Any, groups: dict[str, list[Curve]], x: str, threshold: float | None) -> bool:
    """Draw every group's band on one axis; whether any group had points to draw."""
    drawn = False
    for i, (label, curves) in enumerate(groups.items()):
        grid, mean, low, high = band(curves, x)
        if not len(grid):
            continue
        color = f"C{i % 10}"
        ax.plot(grid, mean, color=color, label=label, marker="o" if len(grid) == 1 else None)
        ax.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
        drawn = True
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold ({threshold:g})")
    if drawn or threshold is not None:
        ax.legend(loc="best", fontsize="small")
    ax.set_ylabel("evaluation return")
    ax.grid(alpha=0.3)
    return drawn


def plot_curves(groups: dict[str, list[Curve]], path: str | Path, title: str = "",
                threshold: float | None = None) -> Path:
    """Evaluation return against env steps and against training seconds, side by
    side: per group a mean line inside the min-max band over its seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not groups:
        raise ValueError("no curves to plot")
    path = Path(path)
    fig = Figure(figsize=(12.0, 4.5), layout="tight")
    FigureCanvasAgg(fig)
    steps_ax, seconds_ax = fig.subplots(1, 2)
    _panel(steps_ax, groups, "env_steps", threshold)
    steps_ax.set_xlabel("env steps")
    if not _panel(seconds_ax, groups, "seconds", threshold):
        seconds_ax.text(0.5, 0.5, "no wall-clock columns", transform=seconds_ax.transAxes,
                        ha="center", va="center", color="gray")
    seconds_ax.set_xlabel("training seconds (evaluation excluded)")
    fig.suptitle(title or "Learning curves")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def summary(groups: dict[str, list[Curve]]) -> list[dict[str, Any]]:
    """Per group: seeds, the mean and std over seeds of the last evaluation, the
    mean of each seed's best evaluation, and the mean of the last env step."""
    rows = []
    for label, curves in groups.items():
        finals = np.array([c.returns[-1] for c in curves], dtype=float)
        rows.append({"label": label, "seeds": len(curves),
                     "final_return_mean": float(finals.mean()), "final_return_std": float(finals.std()),
                     "best_return": float(np.mean([c.returns.max() for c in curves])),
                     "env_steps": float(np.mean([c.env_steps[-1] for c in curves]))})
    return rows
