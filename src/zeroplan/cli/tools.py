"""The commands that search settings and compare algorithms: tune, compare, plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from zeroplan.cli.common import UserError, _check_train_options, app


@app.command()
def tune(
    env: str = typer.Argument(..., help="a preset or a Gymnasium env id, as for train"),
    trials: int = typer.Option(20, min=1, help="trials in the study in all (a resumed study runs the rest)"),
    minutes_per_trial: float = typer.Option(2.0, min=0.001, help="training minutes of each trial"),
    algo: str = typer.Option("muzero", help="muzero, alphazero or pets"),
    space: Optional[Path] = typer.Option(None, help="a YAML search space replacing the default one "
                                         "(see --show-space)"),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default sqlite:///OUT/study.db); "
                                          "the same storage continues a study"),
    study_name: Optional[str] = typer.Option(None, help="default ALGO-ENV"),
    out: Optional[Path] = typer.Option(None, help="where best.yaml and study.png go (default tune/ENV_ALGO)"),
    pruner: str = typer.Option("median", help="median | hyperband | none"),
    seed: int = typer.Option(0, min=0, help="the sampler's seed and every trial's run.seed"),
    set_: List[str] = typer.Option([], "--set", help="a setting for every trial, e.g. run.eval_interval=500"),
    backend: str = typer.Option("local", help="local (one trial at a time) or ray (parallel trials)"),
    workers: int = typer.Option(2, min=1, help="ray: trials at once"),
    address: Optional[str] = typer.Option(None, help="ray: a cluster's address (default: a local Ray)"),
    show_space: bool = typer.Option(False, "--show-space", help="print the default search space as YAML and stop"),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON result"),
) -> None:
    """Search an algorithm's settings with Optuna (TPE, with pruning); writes the best as a YAML for train --config."""
    import yaml

    from zeroplan.agents import algorithm
    from zeroplan.config import merge, parse_overrides

    cls = algorithm(algo).agent_class()
    base, _ = cls.config_for(env, parse_overrides(set_))
    if show_space:
        from zeroplan.tune import default_space

        typer.echo(yaml.safe_dump(default_space(algo, base), sort_keys=False), nl=False)
        return
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("zeroplan tune needs Optuna: pip install 'zeroplan[tune]'") from None
    import zeroplan.tune as tuning

    _check_train_options(algorithm("muzero"), backend, address, None, None, None)  # backend, address, Ray there
    overrides = merge(parse_overrides(set_), {"run": {"max_minutes": minutes_per_trial, "seed": seed}})
    raw = tuning.load_space_file(space) if space is not None else tuning.default_space(algo, base)
    checked = tuning.build_space(raw, algo, lambda tree: cls.config_for(env, merge(overrides, tree)),
                                 source=str(space) if space else "default search space")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in env)
    out = out or Path("tune") / f"{safe}_{algo}"
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"  # absolute: Ray's workers run elsewhere
    if address is not None and storage.startswith("sqlite:"):
        raise UserError("--address runs trials on a cluster, whose nodes cannot share an SQLite file; give "
                        "--storage a database server every node reaches (e.g. postgresql://...)")
    study = tuning.open_study(storage, study_name or f"{algo}-{env}", env, algo, checked, pruner, seed, overrides)
    done = tuning.finished(study)
    if not as_json:
        typer.echo(f"study {study.study_name} in {storage}: {done} of {trials} trials finished", err=True)

    def said(t) -> None:
        if as_json:
            return
        state = t.state.name.lower()
        score = f"{t.value:.2f}" if state == "complete" else \
            f"{state}" + (f": {t.user_attrs['error']}" if t.user_attrs.get("error") else "")
        typer.echo(f"trial {t.number}: {score}  {t.params}", err=True)

    tuning.optimise(study, trials, env, algo, checked, overrides, storage, backend, workers, address, on_trial=said,
                    pruner=pruner)
    rows = tuning.trials_table(study)
    result: dict = {"study": study.study_name, "storage": storage, "trials": _states(study), "best": None}
    if any(r["state"] == "complete" for r in rows):
        best_path = out / "best.yaml"
        best_path.write_text(yaml.safe_dump(tuning.best_config(study, overrides), sort_keys=False))
        result["best"] = {"trial": study.best_trial.number, "value": study.best_value,
                          "params": study.best_trial.params, "config": str(best_path)}
    result["plot"] = str(tuning.plot_study(study, out / "study.png"))
    if not as_json:
        typer.echo(_trials_text(rows), err=True)
        if result["best"]:
            typer.echo(f"best settings written to {result['best']['config']}; train with "
                       f"`zeroplan train {env} --config {result['best']['config']}`", err=True)
        else:
            typer.echo("no trial completed, so there is no best config", err=True)
    typer.echo(json.dumps(result))


def _states(study) -> dict:
    counts: dict = {}
    for t in study.trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def _trials_text(rows: list[dict]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title="trials (best first)")
    for column in ("trial", "state", "score", "env steps", "settings"):
        table.add_column(column)
    for r in rows:
        score = f"{r['value']:.2f}" if r["state"] == "complete" else \
            (f"({r['last_report']:.2f})" if r["last_report"] is not None else "-")  # a pruned trial's last report
        settings = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items())
        table.add_row(str(r["trial"]), r["state"], score, f"{r['env_steps']:,}", r["error"] or settings)
    buf = StringIO()
    Console(file=buf, width=160).print(table)
    return buf.getvalue()


@app.command()
def compare(
    env: str = typer.Argument(..., help="a preset or a single-player Gymnasium env id"),
    algos: Optional[str] = typer.Option(None, help="comma-separated: muzero, pets, ppo, a2c, dqn, sac, td3 "
                                        "(default muzero,ppo,dqn for discrete actions, pets,ppo,sac for continuous)"),
    seeds: int = typer.Option(3, min=1, help="seeds 0..N-1 of each algorithm"),
    max_env_steps: Optional[int] = typer.Option(None, min=1, help="env steps of each run"),
    minutes: Optional[float] = typer.Option(None, min=0.001, help="minutes of each run"),
    eval_interval: Optional[int] = typer.Option(None, min=1, help="env steps between evaluations "
                                                "(default a twentieth of --max-env-steps, else 2,000)"),
    eval_episodes: int = typer.Option(10, min=1, help="episodes of each evaluation"),
    threshold: Optional[float] = typer.Option(None, help="report env steps and seconds to reach this return "
                                              "(default the env's reward threshold, if it has one)"),
    plot: Optional[Path] = typer.Option(None, help="learning curves of every algorithm as a PNG"),
    set_: List[str] = typer.Option([], "--set", help="a setting of zeroplan's algorithms (muzero, pets), "
                                   "e.g. search.num_simulations=8; the baselines keep theirs"),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON result"),
) -> None:
    """Train zeroplan's and Stable-Baselines3's algorithms on one env with one budget and one evaluation protocol."""
    from zeroplan.baselines import BaselineError, Protocol
    from zeroplan.compare import compare as run_compare, curves, default_algos, env_kind, format_table, gym_spec

    if max_env_steps is None and minutes is None:
        raise UserError("give a budget for each run: --max-env-steps N or --minutes M")
    discrete, config = env_kind(env, set_)
    names = [a.strip() for a in algos.split(",") if a.strip()] if algos else default_algos(discrete)
    interval = eval_interval or (max(1, max_env_steps // 20) if max_env_steps else 2000)
    if threshold is None:
        spec = gym_spec(config.env.id)
        threshold = spec.reward_threshold if spec is not None else None

    def said(algo: str, seed: int, row: dict) -> None:
        if not as_json and "eval/mean_reward" in row:
            typer.echo(f"{algo} seed {seed}: {int(row['env_steps']):,} env steps, "
                       f"evaluation {row['eval/mean_reward']:.1f}", err=True)

    try:
        result = run_compare(env, names, list(range(seeds)), Protocol(interval, eval_episodes), max_env_steps,
                             minutes, threshold, progress=said, dotted=set_)
    except BaselineError as err:
        raise UserError(str(err)) from None
    if plot is not None:
        from zeroplan.eval.curves import plot_curves

        groups = curves(result)
        if groups:
            plot_curves(groups, plot, title=f"{result['env']}: evaluation return", threshold=threshold)
            result["plot"] = str(plot)
    if not as_json:
        typer.echo(format_table(result), err=True)
    typer.echo(json.dumps(result))


@app.command("plot")
def plot_(
    run_dirs: List[Path] = typer.Argument(..., help="run directories written by `zeroplan train`"),
    out: Path = typer.Option(Path("curves.png"), help="the PNG to write"),
    title: str = typer.Option("", help="the figure's title"),
    threshold: Optional[float] = typer.Option(None, help="a dashed line at this return"),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON summary"),
) -> None:
    """Learning curves of runs: evaluation return against env steps and training seconds.

    Runs that differ only in their seed are drawn as one mean with its min-max band."""
    from zeroplan.eval.curves import CurveError, group_runs, plot_curves, summary

    try:
        groups = group_runs(run_dirs)
    except CurveError as err:
        raise UserError(str(err)) from None
    plot_curves(groups, out, title=title, threshold=threshold)
    rows = summary(groups)
    if not as_json:
        for r in rows:
            typer.echo(f"{r['label']}: final {r['final_return_mean']:.1f} ± {r['final_return_std']:.1f}, "
                       f"best {r['best_return']:.1f}", err=True)
        typer.echo(f"plot written to {out}", err=True)
    typer.echo(json.dumps({"plot": str(out), "groups": rows}))

