"""Generalization tests: how much of an agent's return survives a perturbed environment.

Every variant is evaluated with the same episode seeds as the training env
(common random numbers), so the gap measures the perturbation rather than a
different draw of start states.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zeroplan.envs.gym import EnvError
from zeroplan.envs.variants import (Variant, builtin_variants, check_same_interface, merge_variants,
                                    parse_variants, variant_factory)
from zeroplan.eval.evaluate import evaluate_returns

COLUMNS = ("variant", "mean_return", "std_return", "gap")


def default_variants(config) -> list[Variant]:
    """Built-in variants for the config's env, then those the config declares
    (`run.eval_variants`, when the config has that field), which replace built-ins of the same name."""
    declared = getattr(getattr(config, "run", None), "eval_variants", None) or []
    return merge_variants(builtin_variants(config.env), parse_variants(list(declared)))


def generalize(agent, episodes: int, seed: int, variants: Sequence[Variant] | None = None) -> list[dict[str, Any]]:
    """One row per environment, the training env ("train") first:
    {"variant", "mean_return", "std_return", "gap"}, gap = mean_return - train mean_return."""
    if agent.spec.num_players != 1:
        raise EnvError(f"{agent.config.env.id}: generalization tests are for single-player environments "
                       "(two-player games are evaluated against an opponent)")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    variants = default_variants(agent.config) if variants is None else list(variants)
    model, config = agent.model, agent.config
    factories = [("train", agent.env_factory)]
    for v in variants:
        factory = variant_factory(config.env, v, seed)
        check_same_interface(agent.spec, factory().spec, v)  # before any episode is spent
        factories.append((v.name, factory))
    rows: list[dict[str, Any]] = []
    for name, factory in factories:
        returns = np.asarray(evaluate_returns(model, config, factory, episodes, seed), dtype=np.float64)
        rows.append({"variant": name, "mean_return": float(returns.mean()), "std_return": float(returns.std()),
                     "gap": 0.0})
    base = rows[0]["mean_return"]
    for row in rows:
        row["gap"] = row["mean_return"] - base
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table, one line per variant, for the terminal."""
    header = ("variant", "mean return", "std", "gap")
    body = [(str(r["variant"]), f"{r['mean_return']:.2f}", f"{r['std_return']:.2f}",
             "—" if r["variant"] == "train" else f"{r['gap']:+.2f}") for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]

    def fmt(line: tuple[str, ...]) -> str:
        first = line[0].ljust(widths[0])
        return "  ".join([first] + [cell.rjust(w) for cell, w in zip(line[1:], widths[1:])])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule] + [fmt(line) for line in body])
