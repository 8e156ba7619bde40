"""The `zeroplan` command: train, eval, diagnose, play, tune, compare, plot.

Bad input (a config key, an env id, a checkpoint) ends with one message naming
the problem and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from zeroplan.config import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Model-based RL: MuZero with a batched tree search.")


class UserError(Exception):
    """Anything the user can fix; printed without a traceback, exit status 2."""


def _user_errors():
    from zeroplan.envs.gym import EnvError
    from zeroplan.io.checkpoint import CheckpointError

    return (UserError, ConfigError, EnvError, CheckpointError)


def _run_faults():
    from zeroplan.io.checkpoint import CheckpointWriteError
    from zeroplan.runners.local import TrainingDiverged

    faults: tuple = (TrainingDiverged, CheckpointWriteError)
    try:
        from zeroplan.runners.ray import RunFault

        faults += (RunFault,)
    except ImportError:  # Ray is an optional extra
        pass
    return faults


def _default_run_dir(name: str, seed: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return Path("runs") / f"{safe}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
def train(
    env: Optional[str] = typer.Argument(None, help="a preset (cartpole, tictactoe, connect4; Pendulum-v1 with "
                                        "--algo pets) or a Gymnasium env id"),
    resume: Optional[Path] = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="a YAML file of config settings "
                                               "(applied over the preset, before --set)"),
    seed: Optional[int] = typer.Option(None, min=0, help="random seed (default 0)"),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is written (default runs/NAME_seedS_TIME)"),
    max_minutes: Optional[float] = typer.Option(None, min=0.001, help="stop after this many minutes (of this call)"),
    max_env_steps: Optional[int] = typer.Option(None, min=1, help="stop after this many environment steps in all"),
    set_: List[str] = typer.Option([], "--set", help="config override, e.g. search.num_simulations=16"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    algo: str = typer.Option("muzero", help="muzero (discrete actions) or pets (continuous actions); "
                             "with --resume, the run's own"),
    max_episodes: Optional[int] = typer.Option(None, min=1, help="pets: episodes of data in all"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="start from this run's (or checkpoint's) "
                                             "weights, to fine-tune on a changed environment"),
    backend: str = typer.Option("local", help="local (one process, the default) or ray"),
    num_workers: int = typer.Option(2, min=1, help="ray: self-play actors"),
    address: Optional[str] = typer.Option(None, help="ray: a cluster's address (auto | HOST:PORT); "
                                          "default: start a local Ray on this machine"),
) -> None:
    """Train an agent (MuZero by default), or continue a run with --resume RUN_DIR.

    A run checkpoints itself every run.checkpoint_seconds and when stopped with
    Ctrl-C (exit status 130) or SIGTERM (143); --resume carries on from there."""
    from zeroplan.agents import algo_of, algorithm
    from zeroplan.config import merge, parse_overrides

    entry = algorithm((algo_of(resume) or algo) if resume is not None else algo)
    _check_train_options(entry, backend, address, init_from, max_env_steps, max_episodes)
    budget = {"max_env_steps": max_env_steps, "max_episodes": max_episodes}[entry.budget]
    overrides: dict = {"run": {k: v for k, v in (("max_minutes", max_minutes), (entry.budget, budget))
                               if v is not None}}
    cls = entry.agent_class()
    if resume is not None:
        if env is not None or config_file is not None or seed is not None or run_dir is not None \
                or init_from is not None:
            raise UserError("--resume continues a run with its own environment, config, seed and weights; "
                            "give no ENV, --config, --seed, --run-dir or --init-from with it")
        run_dir = resume
        agent = cls.resume(resume, run_overrides=merge(overrides, parse_overrides(set_)))
        typer.echo(f"resuming {run_dir} at {agent.result.env_steps} env steps", err=True)
    else:
        if env is None:
            raise UserError("give an environment to train on (e.g. `zeroplan train cartpole`, or "
                            "`zeroplan train Pendulum-v1 --algo pets`), or --resume RUN_DIR to continue a run")
        seed = 0 if seed is None else seed
        overrides["run"]["seed"] = seed
        config, notes = cls.config_for(env, _merge_file(overrides, config_file), set_)
        for note in notes:
            typer.echo(note, err=True)
        run_dir = run_dir or _default_run_dir(env, seed)
        typer.echo(f"run directory: {run_dir}", err=True)
        if init_from is not None:
            from zeroplan.io.checkpoint import find_checkpoint

            find_checkpoint(init_from)  # a bad source is reported before the run directory is made
        with _removed_if_failed(run_dir):
            agent = cls(config=config, run_dir=run_dir)
            for note in agent.notes:
                typer.echo(note, err=True)
            if init_from is not None:
                from zeroplan.eval.transfer import warm_start

                typer.echo(f"initialised from {warm_start(agent.runner, init_from)}", err=True)
    backend_options = {"backend": backend, "num_workers": num_workers, "address": address} \
        if len(entry.backends) > 1 else {}
    result = agent.learn(progress_bar=progress, **backend_options)
    agent.close()
    typer.echo(json.dumps({"run_dir": str(run_dir), **agent.summary(result)}))
    if result.stopped_by_signal is not None:
        typer.echo(f"stopped by signal {result.stopped_by_signal}; the run is saved, continue it with "
                   f"`zeroplan train --resume {run_dir}`", err=True)
        raise typer.Exit(128 + result.stopped_by_signal)


@contextlib.contextmanager
def _removed_if_failed(run_dir: Path):
    """A new run that fails before its first step leaves nothing behind: the
    directory it made is removed, or what it added to one that was there."""
    before = set(run_dir.iterdir()) if run_dir.is_dir() else None
    try:
        yield
    except BaseException:
        if before is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif run_dir.is_dir():
            for path in set(run_dir.iterdir()) - before:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        raise


def _check_train_options(entry, backend: str, address: str | None, init_from: Path | None,
                         max_env_steps: int | None, max_episodes: int | None) -> None:
    """Options the chosen algorithm does not take are refused, not ignored."""
    if backend not in ("local", "ray"):
        raise UserError(f"--backend must be local or ray, got {backend!r}")
    if backend not in entry.backends:
        raise UserError(f"--backend {backend} is not available for --algo {entry.name} "
                        f"({', '.join(entry.backends)})")
    if init_from is not None and not entry.warm_start:
        raise UserError(f"--init-from is not available for --algo {entry.name}")
    if max_episodes is not None and entry.budget != "max_episodes":
        raise UserError(f"--max-episodes is for --algo pets; {entry.name} runs stop at --max-env-steps")
    if max_env_steps is not None and entry.budget != "max_env_steps":
        raise UserError(f"--max-env-steps is for MuZero; {entry.name} runs stop at --max-episodes")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError("--backend ray needs Ray: pip install 'zeroplan[ray]'") from None
    elif address is not None:
        raise UserError("--address is for --backend ray")


def _merge_file(overrides: dict, config_file: Path | None) -> dict:
    """Settings from a YAML file, under the command line's own options."""
    if config_file is None:
        return overrides
    import yaml

    from zeroplan.config import merge

    try:
        data = yaml.safe_load(config_file.read_text())
    except OSError as err:
        raise UserError(f"{config_file}: cannot read ({err.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_file}: not valid YAML ({err})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{config_file}: expected a mapping of config sections, got {type(data).__name__}")
    return merge(data, overrides)


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(..., help="a run directory written by `zeroplan train`"),
    checkpoint: Optional[str] = typer.Option(None, help="checkpoint name under RUN_DIR/checkpoints "
                                             "(default: best, or last if the run was never evaluated)"),
    episodes: int = typer.Option(20, min=1, help="episodes (single-player)"),
    opponent: Optional[str] = typer.Option(None, help="two-player games: random | expert | alphabeta:N "
                                           "(default: the game's expert, else random)"),
    games: int = typer.Option(100, min=1, help="games per side against the opponent"),
    openings: int = typer.Option(0, min=0, max=4, help="two-player games: instead of --games games from the start, "
                                 "one game per side from every opening of this many moves (connect four, 2: 49)"),
    seed: int = typer.Option(0),
    generalize: bool = typer.Option(False, "--generalize", help="also on perturbed variants of the environment "
                                    "(physics, observation noise, sticky actions, other maps; run.eval_variants)"),
    plot: Optional[Path] = typer.Option(None, help="with --generalize: a PNG bar chart of the variants"),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON result"),
    set_: List[str] = typer.Option([], "--set", help="MuZero: evaluate with other search settings, e.g. "
                                   "search.num_simulations=64 (only search.* can change)"),
) -> None:
    """Evaluate a trained agent (MuZero or PETS) without exploration noise; the JSON result is the last line."""
    from zeroplan.config import search_overrides
    from zeroplan.agents import algorithm
    from zeroplan.io.checkpoint import Checkpoint, find_checkpoint

    if plot is not None and not generalize:
        raise UserError("--plot draws the --generalize table; give --generalize too")
    path = find_checkpoint(run_dir, checkpoint)
    entry = algorithm(Checkpoint(path).meta.get("algo"))
    refused = [flag for flag, given, allowed in (("--set", set_, entry.search_settings),
                                                 ("--generalize", generalize, entry.single_player_extras),
                                                 ("--opponent", opponent is not None, entry.two_player),
                                                 ("--openings", openings, entry.two_player)) if given and not allowed]
    if refused:
        raise UserError(f"{', '.join(refused)}: not available for {entry.name} runs")
    search = search_overrides(set_) if set_ else None
    agent = entry.agent_class().load(path, **({"search": search} if search else {}))
    env_id = agent.config.env.id
    two_player = entry.two_player and agent.spec.num_players == 2
    if two_player and generalize:
        raise UserError("--generalize is for single-player environments")
    if not two_player and (opponent is not None or openings):
        raise UserError(f"--opponent and --openings are for two-player games; {env_id} has one player")
    if generalize:
        return _generalize(agent, episodes, seed, plot, as_json)
    if two_player:
        result = agent.evaluate(games, seed=seed, opponent=opponent or "auto", openings=openings)
    else:
        result = agent.evaluate(episodes, seed=seed)
    if search:
        result["search"] = search
    if not as_json:
        typer.echo(f"{env_id}, checkpoint {path.name}:", err=True)
    typer.echo(json.dumps(result))


@app.command()
def diagnose(
    run_dir: Path = typer.Argument(..., help="a PETS run directory (or checkpoint)"),
    plot: Optional[Path] = typer.Option(None, help="a PNG of k-step open-loop predictions against the real "
                                        "trajectory, one panel per state dimension"),
    checkpoint: Optional[str] = typer.Option(None, help="checkpoint name (default best, else last)"),
    seed: int = typer.Option(0, help="seed of the real trajectory"),
) -> None:
    """Where is the learned dynamics model wrong? Mean k-step open-loop error for k = 1, 5, 10, 20."""
    from zeroplan.eval.diagnose import diagnose as run_diagnose
    from zeroplan.io.checkpoint import Checkpoint, find_checkpoint
    from zeroplan.mbrl.pets import PETS

    path = find_checkpoint(run_dir, checkpoint)
    if Checkpoint(path).meta.get("algo") != "pets":
        raise UserError(f"{path}: diagnose reads PETS runs (a learned dynamics model); this is a MuZero run")
    out = run_diagnose(PETS.load(path), seed=seed, plot=plot)
    if plot is not None:
        typer.echo(f"plot written to {plot}", err=True)
    typer.echo(json.dumps(out))


@app.command()
def play(
    game: Optional[str] = typer.Argument(None, help="tictactoe | connect4, or a single-player env id with --run"),
    run: Optional[Path] = typer.Option(None, help="the agent's run directory (default: play the expert)"),
    first: bool = typer.Option(True, "--first/--second", help="whether you move first"),
    render: bool = typer.Option(False, help="single-player: show the episode in a window (text for text-drawn envs)"),
    record: Optional[Path] = typer.Option(None, help="single-player: write the episode to a GIF"),
    seed: int = typer.Option(0),
) -> None:
    """Play a board game against the agent in the terminal, or watch a single-player agent."""
    from zeroplan.play import play_command

    code = play_command(game, run, first, render, record, seed)
    if code:
        raise typer.Exit(code)


@app.command()
def tune(
    env: str = typer.Argument(..., help="a preset or a Gymnasium env id, as for train"),
    trials: int = typer.Option(20, min=1, help="trials in the study in all (a resumed study runs the rest)"),
    minutes_per_trial: float = typer.Option(2.0, min=0.001, help="training minutes of each trial"),
    algo: str = typer.Option("muzero", help="muzero or pets"),
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
    from zeroplan.compare import compare as run_compare, curves, default_algos, env_kind, format_table

    if max_env_steps is None and minutes is None:
        raise UserError("give a budget for each run: --max-env-steps N or --minutes M")
    discrete, config = env_kind(env, set_)
    names = [a.strip() for a in algos.split(",") if a.strip()] if algos else default_algos(discrete)
    interval = eval_interval or (max(1, max_env_steps // 20) if max_env_steps else 2000)
    if threshold is None:
        threshold = _reward_threshold(config.env.id)

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


def _reward_threshold(env_id: str) -> float | None:
    try:
        import gymnasium

        return gymnasium.spec(env_id).reward_threshold
    except Exception:  # not a registered id
        return None


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


def _generalize(agent, episodes: int, seed: int, plot: Path | None, as_json: bool) -> None:
    from zeroplan.eval.generalize import format_table, generalize

    rows = generalize(agent, episodes, seed)
    if plot is not None:
        from zeroplan.eval.plots import plot_generalization

        plot_generalization(rows, plot, title=agent.config.env.id)
        typer.echo(f"plot written to {plot}", err=True)
    if not as_json:
        typer.echo(format_table(rows), err=True)
    typer.echo(json.dumps(rows))


def main() -> None:
    try:
        code = app(standalone_mode=False)  # click returns (not raises) the code of a typer.Exit here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except _user_errors() as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except _run_faults() as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except Exception as e:
        # Usage errors of click (vendored inside typer since 0.2x, a separate
        # package before): recognised by shape, whichever provides them.
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(2)
        if type(e).__name__ == "Abort":
            typer.echo("aborted", err=True)
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
