"""`zeroplan compare`: zeroplan's algorithms and Stable-Baselines3's model-free
ones trained on the same environment, the same budget and the same evaluation
protocol, seed by seed, summarised in one table and one figure.

Every algorithm is evaluated every `protocol.interval` env steps on
`protocol.episodes` episodes without exploration; PETS, which trains in whole
episodes, is evaluated at the episode ends nearest those points. Seconds are
training seconds: the time spent in those evaluations is left out for all.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable

from zeroplan.agents import ALGORITHMS, algorithm
from zeroplan.baselines import SB3_ALGOS, BaselineError, Protocol, check_algo, gym_env_factory, sb3, train_baseline
from zeroplan.config import ConfigError
from zeroplan.envs.defaults import EPISODE_LIMIT

OURS = tuple(ALGORITHMS)


def env_kind(env: str, dotted: list[str] | None = None) -> tuple[bool, Any]:
    """(whether the env's actions are discrete, its config with `dotted` applied):
    discrete envs get MuZero's config (preset or derived), continuous ones
    PETS's. The baselines train on that config's env too (its id, episode
    limit and keyword arguments), so every algorithm meets the same env."""
    from zeroplan.envs import make_env
    from zeroplan.envs.gym import EnvError

    muzero = algorithm("muzero").agent_class()
    try:
        try:  # the user's env settings (--set env.kwargs...) can change the action space
            probe = muzero.config_for(env, None, dotted)[0]
        except ConfigError:  # settings of the other family (planner.*): probe without them
            probe = muzero.config_for(env)[0]
        made = make_env(probe.env)
    except EnvError as err:
        if "action space" not in str(err):  # one MuZero cannot take (e.g. an unbounded Box): PETS's family
            raise
        return False, algorithm("pets").agent_class().config_for(env, None, dotted)[0]
    spec = made.spec
    if getattr(made, "close", None):
        made.close()
    if spec.action_dim:  # continuous: PETS's family (MuZero takes them too, with search.sampled_actions)
        return False, algorithm("pets").agent_class().config_for(env, None, dotted)[0]
    if spec.num_players != 1:
        raise ConfigError(f"{env}: compare trains single-player environments; it has {spec.num_players} players")
    return True, muzero.config_for(env, None, dotted)[0]


def default_algos(discrete: bool) -> list[str]:
    return ["muzero", "ppo", "dqn"] if discrete else ["pets", "ppo", "sac"]


def check_algos(algos: list[str], discrete: bool) -> None:
    """Every name known and able to act in the env's action space, named when not."""
    for name in algos:
        if name in OURS:
            if name == "pets" and discrete:  # MuZero takes both (continuous ones with its sampled search)
                raise BaselineError(f"{name} needs continuous actions; this env's actions are discrete")
        else:
            check_algo(name, discrete)
    if len(set(algos)) != len(algos):
        raise BaselineError(f"--algos names one algorithm twice: {','.join(algos)}")
    if any(a in SB3_ALGOS for a in algos):
        sb3()


def run_ours(name: str, env: str, seed: int, protocol: Protocol, max_env_steps: int | None,
             max_minutes: float | None, episode_steps: int, progress: Callable[[dict], None] | None,
             dotted: list[str] | None = None) -> dict:
    """One seed of a zeroplan algorithm on the protocol (no run directory;
    `dotted` settings over its preset, the protocol's over those)."""
    entry = algorithm(name)
    cls = entry.agent_class()
    run: dict[str, Any] = {"seed": seed, "eval_episodes": protocol.episodes}
    if max_minutes is not None:
        run["max_minutes"] = max_minutes
    if entry.budget == "max_env_steps":
        run.update(eval_interval=protocol.interval, max_env_steps=max_env_steps or 10**9)
    else:  # whole episodes: the budget and the evaluation points in episodes of the env's length
        run.update(eval_interval=max(1, round(protocol.interval / episode_steps)),
                   max_episodes=math.ceil(max_env_steps / episode_steps) if max_env_steps else 10**6)
    # The whole budget for every algorithm: a preset's target return (run.stop_at_return) would end a run early.
    protocol_sets = [f"run.{k}={v}" for k, v in run.items()] + ["run.stop_at_return=null"]
    config, _ = cls.config_for(env, None, list(dotted or []) + protocol_sets)
    agent = cls(config=config, run_dir=None, tensorboard=False)
    try:
        result = agent.learn(callback=progress)
    finally:
        agent.close()
    evals = [{"env_steps": int(r["env_steps"]), "seconds": round(r["seconds_excluding_eval"], 3),
              "mean_return": float(r["mean_return"])} for r in result.evals]
    return {"algo": name, "seed": seed, "settings": _preset_note(env, name), "evals": evals,
            "env_steps": int(result.env_steps), "seconds": round(result.seconds - result.eval_seconds, 3)}


def _preset_note(env: str, name: str) -> str:
    from zeroplan.config import preset_for

    preset = preset_for(env, "" if name == "muzero" else name)
    return f"zeroplan preset {preset}" if preset else "zeroplan settings derived from the env"


def compare(env: str, algos: list[str], seeds: list[int], protocol: Protocol, max_env_steps: int | None,
            max_minutes: float | None, threshold: float | None = None,
            progress: Callable[[str, int, dict], None] | None = None, dotted: list[str] | None = None
            ) -> dict[str, Any]:
    """Train every algorithm on every seed, one after another; the result holds
    each run's evaluation curve and the table of `table()`."""
    if max_env_steps is None and max_minutes is None:
        raise ConfigError("give a budget: --max-env-steps or --minutes")
    discrete, config = env_kind(env, dotted)
    check_algos(algos, discrete)
    spec = gym_spec(config.env.id)
    episode_steps = config.env.max_episode_steps or (spec and spec.max_episode_steps) or EPISODE_LIMIT
    make_env = gym_env_factory(config.env, episode_steps)
    runs = []
    for name in algos:
        for seed in seeds:
            report = (lambda row, name=name, seed=seed: progress(name, seed, row)) if progress else None
            if name in OURS:
                runs.append(run_ours(name, env, seed, protocol, max_env_steps, max_minutes, episode_steps, report,
                                     dotted))
            else:
                runs.append(train_baseline(name, make_env, config.env.id, seed, protocol, max_env_steps,
                                           max_minutes, report))
    return {"env": config.env.id, "algos": algos, "seeds": seeds, "threshold": threshold,
            "budget": {"max_env_steps": max_env_steps, "minutes": max_minutes},
            "protocol": {"eval_interval": protocol.interval, "eval_episodes": protocol.episodes},
            "table": table(runs, algos, threshold), "runs": runs}


def gym_spec(env_id: str):
    """Gymnasium's registration of `env_id` (its episode limit, reward
    threshold), or None for an id it does not know (a user's class)."""
    try:
        import gymnasium

        return gymnasium.spec(env_id)
    except Exception:  # not a registered id
        return None


def table(runs: list[dict], algos: list[str], threshold: float | None) -> list[dict]:
    """One row per algorithm: the last evaluation's return (mean and standard
    deviation over seeds), and with a threshold, how many seeds reached it and
    the median env steps and training seconds when they first did (over the
    seeds that did)."""
    rows = []
    for name in algos:
        mine = [r for r in runs if r["algo"] == name]
        finals = [r["evals"][-1]["mean_return"] for r in mine if r["evals"]]
        row: dict[str, Any] = {
            "algo": name, "settings": mine[0]["settings"] if mine else "", "seeds": len(mine),
            "final_mean": round(statistics.fmean(finals), 2) if finals else None,
            "final_std": round(statistics.pstdev(finals), 2) if finals else None,
            "env_steps": int(statistics.median(r["env_steps"] for r in mine)) if mine else 0,
            "seconds": round(statistics.median(r["seconds"] for r in mine), 1) if mine else 0.0}
        if threshold is not None:
            hits = [next((e for e in r["evals"] if e["mean_return"] >= threshold), None) for r in mine]
            reached = [h for h in hits if h is not None]
            row["solved"] = f"{len(reached)}/{len(mine)}"
            row["steps_to_threshold"] = int(statistics.median(h["env_steps"] for h in reached)) if reached else None
            row["seconds_to_threshold"] = round(statistics.median(h["seconds"] for h in reached), 1) \
                if reached else None
        rows.append(row)
    return rows


def format_table(result: dict) -> str:
    """The table as aligned text, with the protocol and where each algorithm's settings come from."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    threshold = result["threshold"]
    out = Table(title=f"{result['env']}: {len(result['seeds'])} seed(s), evaluation every "
                      f"{result['protocol']['eval_interval']:,} env steps over {result['protocol']['eval_episodes']} "
                      "episodes")
    columns = ["algo", "final return", "env steps", "train s"]
    if threshold is not None:
        columns += [f"solved (>= {threshold:g})", "steps to it", "train s to it"]
    columns.append("settings")
    for c in columns:
        out.add_column(c)
    for row in result["table"]:
        final = "-" if row["final_mean"] is None else f"{row['final_mean']:.1f} ± {row['final_std']:.1f}"
        cells = [row["algo"], final, f"{row['env_steps']:,}", f"{row['seconds']:.1f}"]
        if threshold is not None:
            cells += [row["solved"], "-" if row["steps_to_threshold"] is None else f"{row['steps_to_threshold']:,}",
                      "-" if row["seconds_to_threshold"] is None else f"{row['seconds_to_threshold']:.1f}"]
        cells.append(row["settings"])
        out.add_row(*cells)
    buf = StringIO()
    Console(file=buf, width=160).print(out)
    return buf.getvalue()


def curves(result: dict) -> dict[str, list]:
    """The runs as learning curves, grouped by algorithm (for eval.curves.plot_curves)."""
    import numpy as np

    from zeroplan.eval.curves import Curve

    groups: dict[str, list] = {}
    for run in result["runs"]:
        evals = run["evals"]
        groups.setdefault(run["algo"], []).append(Curve(
            label=run["algo"], seed=run["seed"],
            env_steps=np.array([e["env_steps"] for e in evals], float),
            seconds=np.array([e["seconds"] for e in evals], float),
            returns=np.array([e["mean_return"] for e in evals], float)))
    return {f"{name} ({len(group)} seed{'s' if len(group) > 1 else ''})": group
            for name, group in groups.items() if any(len(c.returns) for c in group)}
