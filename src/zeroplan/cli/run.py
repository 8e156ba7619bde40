"""The commands that train and use agents: train, eval, diagnose, play."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import List, Optional

import typer

from zeroplan.cli.common import UserError, _check_train_options, app
from zeroplan.config import ConfigError


def _default_run_dir(name: str, seed: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return Path("runs") / f"{safe}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
def train(
    env: Optional[str] = typer.Argument(None, help="a preset (cartpole, tictactoe, connect4, "
                                        "Pendulum-v1, ...) or a Gymnasium env id"),
    resume: Optional[Path] = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="a YAML file of config settings "
                                               "(applied over the preset, before --set)"),
    seed: Optional[int] = typer.Option(None, min=0, help="random seed (default 0)"),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is written (default runs/NAME_seedS_TIME)"),
    max_minutes: Optional[float] = typer.Option(None, min=0.001, help="stop after this many minutes (of this call)"),
    max_env_steps: Optional[int] = typer.Option(None, min=1, help="stop after this many environment steps in all"),
    set_: List[str] = typer.Option([], "--set", help="config override, e.g. search.num_simulations=16"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    algo: str = typer.Option("muzero", help="muzero (continuous actions with its sampled search), alphazero "
                             "(search over the real rules: board games, envs that can be copied) or pets "
                             "(model-predictive control, continuous actions); with --resume, the run's own"),
    max_episodes: Optional[int] = typer.Option(None, min=1, help="pets: episodes of data in all"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="start from this run's (or checkpoint's) "
                                             "weights, to fine-tune on a changed environment"),
    backend: str = typer.Option("local", help="local (one process, the default) or ray"),
    num_workers: int = typer.Option(2, min=1, help="ray: self-play actors"),
    address: Optional[str] = typer.Option(None, help="ray: a cluster's address (auto | HOST:PORT); "
                                          "default: start a local Ray on this machine"),
    device: Optional[str] = typer.Option(None, help="where the learner runs: auto | cpu | cuda | cuda:N "
                                         "(run.device; MuZero and AlphaZero)"),
) -> None:
    """Train an agent (MuZero by default), or continue a run with --resume RUN_DIR.

    A run checkpoints itself every run.checkpoint_seconds and when stopped with
    Ctrl-C (exit status 130) or SIGTERM (143); --resume carries on from there."""
    from zeroplan.agents import algo_of, algorithm
    from zeroplan.config import merge, parse_overrides

    entry = algorithm((algo_of(resume) or algo) if resume is not None else algo)
    _check_train_options(entry, backend, address, init_from, max_env_steps, max_episodes)
    budget = {"max_env_steps": max_env_steps, "max_episodes": max_episodes}[entry.budget]
    if device is not None and entry.budget != "max_env_steps":
        raise UserError(f"--device is for MuZero and AlphaZero; {entry.name} runs on the CPU")
    overrides: dict = {"run": {k: v for k, v in (("max_minutes", max_minutes), (entry.budget, budget),
                                                  ("device", device)) if v is not None}}
    cls = entry.agent_class()
    if resume is not None:
        if env is not None or config_file is not None or seed is not None or run_dir is not None \
                or init_from is not None:
            raise UserError("--resume continues a run with its own environment, config, seed and weights; "
                            "give no ENV, --config, --seed, --run-dir or --init-from with it")
        from zeroplan.shipped import is_pretrained

        if is_pretrained(resume):
            raise UserError(f"{resume} is a shipped agent (its weights, no replay or optimizer state), not a run to "
                            f"continue: start a new run from it with `zeroplan train ENV --init-from {resume}`")
        run_dir = resume
        agent = cls.resume(resume, run_overrides=merge(overrides, parse_overrides(set_)))
        typer.echo(f"resuming {run_dir} at {agent.result.env_steps} env steps", err=True)
        for note in agent.notes:
            typer.echo(note, err=True)
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
    opponent: Optional[str] = typer.Option(None, help="two-player games: random | expert | alphabeta:N (connect4) | "
                                           "mcts:N (openspiel: games; default: the game's expert, else random)"),
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
    run_dir: Path = typer.Argument(..., help="a PETS run, or a Stochastic MuZero run (net.chance_codes)"),
    plot: Optional[Path] = typer.Option(None, help="PETS: a PNG of k-step open-loop predictions against the real "
                                        "trajectory, one panel per state dimension"),
    checkpoint: Optional[str] = typer.Option(None, help="checkpoint name (default best, else last)"),
    seed: int = typer.Option(0, help="seed of the real trajectory (episodes)"),
    episodes: int = typer.Option(10, min=1, help="Stochastic MuZero: episodes the agent plays for the table"),
) -> None:
    """Where is the learned model wrong? PETS: mean k-step open-loop error for k = 1, 5, 10, 20.
    Stochastic MuZero: the chance codes' predicted probabilities against the outcomes observed."""
    from zeroplan.agents import algorithm
    from zeroplan.io.checkpoint import Checkpoint, find_checkpoint

    path = find_checkpoint(run_dir, checkpoint)
    algo = Checkpoint(path).meta.get("algo")
    if algo != "pets":
        from zeroplan.eval.chance import chance_calibration

        agent = algorithm(algo).agent_class().load(path)
        if not agent.config.net.chance_codes:
            raise UserError(f"{path}: diagnose reads PETS runs (a learned dynamics model) and Stochastic MuZero "
                            "runs (net.chance_codes > 0, a learned chance model); this MuZero run has neither")
        if plot is not None:
            raise UserError("--plot draws PETS's k-step predictions; a Stochastic MuZero run gives a table")
        typer.echo(json.dumps(chance_calibration(agent, episodes=episodes, seed=seed)))
        return
    from zeroplan.eval.diagnose import diagnose as run_diagnose
    from zeroplan.mbrl.pets import PETS

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

