"""The `zeroplan` command: train, eval.

Bad input (a config key, an env id, a checkpoint) ends with one message naming
the problem and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
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
    from zeroplan.runners.local import TrainingDiverged

    faults: tuple = (TrainingDiverged,)
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
    algo: str = typer.Option("muzero", help="muzero (discrete actions) or pets (continuous actions)"),
    max_episodes: Optional[int] = typer.Option(None, min=1, help="pets: episodes of data in all"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="start from this run's (or checkpoint's) "
                                             "weights, to fine-tune on a changed environment"),
    backend: str = typer.Option("local", help="local (one process, the default) or ray"),
    num_workers: int = typer.Option(2, min=1, help="ray: self-play actors"),
    address: Optional[str] = typer.Option(None, help="ray: a cluster's address (auto | HOST:PORT); "
                                          "default: start a local Ray on this machine"),
) -> None:
    """Train a MuZero agent, or continue one with --resume RUN_DIR.

    A run checkpoints itself every run.checkpoint_seconds and when stopped with
    Ctrl-C (exit status 130) or SIGTERM (143); --resume carries on from there."""
    from zeroplan.config import load_config, parse_overrides
    from zeroplan.muzero.agent import MuZero

    if resume is not None and _run_algo(resume) == "pets":
        algo = "pets"
    if algo == "pets":
        if init_from is not None or backend != "local":
            raise UserError("--init-from and --backend ray are for MuZero runs")
        if resume is not None:
            if env is not None or config_file is not None or seed is not None or run_dir is not None:
                raise UserError("--resume continues a run with its own environment, config and seed; "
                                "give no ENV, --config, --seed or --run-dir with it")
            return _resume_pets(resume, max_minutes, max_episodes, set_, progress)
        return _train_pets(env, seed, run_dir, max_minutes, max_episodes, config_file, set_, progress)
    if algo != "muzero":
        raise UserError(f"--algo must be muzero or pets, got {algo!r}")
    if max_episodes is not None:
        raise UserError("--max-episodes is for --algo pets; MuZero runs stop at --max-env-steps")
    if backend not in ("local", "ray"):
        raise UserError(f"--backend must be local or ray, got {backend!r}")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError("--backend ray needs Ray: pip install 'zeroplan[ray]'") from None
    elif address is not None:
        raise UserError("--address is for --backend ray")
    overrides: dict = {"run": {}}
    if max_minutes is not None:
        overrides["run"]["max_minutes"] = max_minutes
    if max_env_steps is not None:
        overrides["run"]["max_env_steps"] = max_env_steps
    if resume is not None:
        if env is not None or config_file is not None or seed is not None or run_dir is not None \
                or init_from is not None:
            raise UserError("--resume continues a run with its own environment, config, seed and weights; "
                            "give no ENV, --config, --seed, --run-dir or --init-from with it")
        from zeroplan.config import merge

        run_dir = resume
        agent = MuZero.resume(resume, run_overrides=merge(overrides, parse_overrides(set_)))
        typer.echo(f"resuming {run_dir} at {agent.runner.result.env_steps} env steps", err=True)
    else:
        if env is None:
            raise UserError("give an environment to train on (e.g. `zeroplan train cartpole`), "
                            "or --resume RUN_DIR to continue a run")
        seed = 0 if seed is None else seed
        overrides["run"]["seed"] = seed
        overrides = _merge_file(overrides, config_file)
        from zeroplan.config import preset_for

        if preset_for(env) is None:  # no tuned preset: derive settings from the env (yours win)
            from zeroplan.config import EnvConfig, merge
            from zeroplan.envs.defaults import derive_defaults

            section = overrides.get("env", {})
            try:
                env_config = EnvConfig.model_validate(merge({"id": env}, section if isinstance(section, dict) else {}))
            except ValueError:
                env_config = None  # load_config below names what is wrong
            if env_config is not None:
                derived, why = derive_defaults(env_config)
                typer.echo(f"no preset for {env}; derived: " + "; ".join(why), err=True)
                overrides = merge(derived, overrides)
        config = load_config(env, overrides=overrides, dotted=set_)
        run_dir = run_dir or _default_run_dir(env, seed)
        typer.echo(f"run directory: {run_dir}", err=True)
        if init_from is not None:
            from zeroplan.eval.transfer import find_checkpoint

            find_checkpoint(init_from)  # a bad source is reported before the run directory is made
        agent = MuZero(config=config, run_dir=run_dir)
        if init_from is not None:
            from zeroplan.eval.transfer import warm_start

            typer.echo(f"initialised from {warm_start(agent.runner, init_from)}", err=True)
    result = agent.learn(progress_bar=progress, backend=backend, num_workers=num_workers, address=address)
    agent.runner.close()
    summary = {"run_dir": str(run_dir), "env_steps": result.env_steps, "train_steps": result.train_steps,
               "seconds": round(result.seconds, 1),
               "best_eval": result.best_eval if result.evals else None, "solved_at": result.solved_at}
    typer.echo(json.dumps(summary))
    if result.stopped_by_signal is not None:
        typer.echo(f"stopped by signal {result.stopped_by_signal}; the run is saved, continue it with "
                   f"`zeroplan train --resume {run_dir}`", err=True)
        raise typer.Exit(128 + result.stopped_by_signal)


def _run_algo(run_dir: Path) -> str | None:
    """The algorithm of a run directory's last checkpoint (None when there is none to read)."""
    for name in ("last", ".last.old"):
        meta = run_dir / "checkpoints" / name / "meta.json"
        if meta.is_file():
            try:
                return json.loads(meta.read_text()).get("algo")
            except (ValueError, UnicodeDecodeError, AttributeError):
                return None  # the full check, with its clear message, comes when the run is loaded
    return None


def _resume_pets(run_dir: Path, max_minutes: float | None, max_episodes: int | None, set_: List[str],
                 progress: bool) -> None:
    from zeroplan.config import merge, parse_overrides
    from zeroplan.mbrl.pets import PETS

    overrides: dict = {"run": {}}
    if max_minutes is not None:
        overrides["run"]["max_minutes"] = max_minutes
    if max_episodes is not None:
        overrides["run"]["max_episodes"] = max_episodes
    agent = PETS.resume(run_dir, merge(overrides, parse_overrides(set_)))
    typer.echo(f"resuming {run_dir} at {agent.result.episodes} episodes", err=True)
    _finish_pets(agent, run_dir, progress)


def _finish_pets(agent, run_dir: Path, progress: bool) -> None:
    result = agent.learn(progress_bar=progress)
    agent.close()
    typer.echo(json.dumps({"run_dir": str(run_dir), "episodes": result.episodes, "env_steps": result.env_steps,
                           "seconds": round(result.seconds, 1),
                           "best_eval": result.best_eval if result.evals else None,
                           "episode_returns": [round(r, 1) for r in result.episode_returns]}))
    if agent._stop_signal is not None:
        typer.echo(f"stopped by signal {agent._stop_signal}; the run is saved, continue it with "
                   f"`zeroplan train --resume {run_dir}`", err=True)
        raise typer.Exit(128 + agent._stop_signal)


def _train_pets(env: str | None, seed: int | None, run_dir: Path | None, max_minutes: float | None,
                max_episodes: int | None, config_file: Path | None, set_: List[str], progress: bool) -> None:
    from zeroplan.config import load_config
    from zeroplan.mbrl.config import PetsConfig
    from zeroplan.mbrl.pets import PETS

    if env is None:
        raise UserError("give an environment with continuous actions, e.g. `zeroplan train Pendulum-v1 --algo pets`")
    seed = 0 if seed is None else seed
    overrides: dict = {"run": {"seed": seed}}
    if max_minutes is not None:
        overrides["run"]["max_minutes"] = max_minutes
    if max_episodes is not None:
        overrides["run"]["max_episodes"] = max_episodes
    config = load_config(env, overrides=_merge_file(overrides, config_file), dotted=set_, model=PetsConfig,
                         family="pets")
    run_dir = run_dir or _default_run_dir(env, seed)
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        raise UserError(f"{run_dir} already holds a run; choose another --run-dir")
    typer.echo(f"run directory: {run_dir}", err=True)
    agent = PETS(config=config, run_dir=run_dir)
    _finish_pets(agent, run_dir, progress)


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
    opponent: Optional[str] = typer.Option(None, help="two-player games: random | expert | alphabeta:N"),
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
    from zeroplan.io.checkpoint import Checkpoint

    if plot is not None and not generalize:
        raise UserError("--plot draws the --generalize table; give --generalize too")
    path = _checkpoint_path(run_dir, checkpoint)
    algo = Checkpoint(path).meta.get("algo")
    if algo == "pets":
        from zeroplan.mbrl.pets import PETS

        if opponent is not None or generalize or openings or set_:
            raise UserError("--opponent, --openings, --generalize and --set are for MuZero runs")
        agent = PETS.load(path)
        result = agent.evaluate(episodes)
        env_id = agent.config.env.id
    else:
        from zeroplan.muzero.agent import MuZero

        search = search_overrides(set_)
        agent = MuZero.load(path, search=search)
        env_id = agent.config.env.id
        if agent.spec.num_players == 2:
            if generalize:
                raise UserError("--generalize is for single-player environments")
            result = _eval_two_player(agent, opponent or "expert", games, seed, openings)
        elif opponent is not None or openings:
            raise UserError(f"--opponent and --openings are for two-player games; {env_id} has one player")
        elif generalize:
            from zeroplan.eval.generalize import format_table
            from zeroplan.eval.generalize import generalize as run_variants

            rows = run_variants(agent, episodes, seed)
            if plot is not None:
                from zeroplan.eval.plots import plot_generalization

                plot_generalization(rows, plot, title=env_id)
                typer.echo(f"plot written to {plot}", err=True)
            if not as_json:
                typer.echo(format_table(rows), err=True)
            typer.echo(json.dumps(rows))
            return
        else:
            from zeroplan.eval.evaluate import evaluate_returns
            import numpy as np

            returns = evaluate_returns(agent.runner.model, agent.config, agent.runner.env_factory, episodes,
                                       seed=seed)
            result = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
                      "episodes": episodes}
    if set_:
        result["search"] = search
    if not as_json:
        typer.echo(f"{env_id}, checkpoint {path.name}:", err=True)
    typer.echo(json.dumps(result))


def _checkpoint_path(run_dir: Path, name: str | None) -> Path:
    """RUN_DIR/checkpoints/NAME (default best, else last), or RUN_DIR itself if it is a checkpoint."""
    if (run_dir / "manifest.json").is_file() and name is None:
        return run_dir
    ckpts = run_dir / "checkpoints"
    if name is None:
        name = "best" if (ckpts / "best").exists() or (ckpts / ".best.old").exists() else "last"
    path = ckpts / name
    if not path.exists() and not (ckpts / f".{name}.old").exists():
        available = sorted(p.name for p in ckpts.glob("[!.]*")) if ckpts.is_dir() else []
        raise UserError(f"no checkpoint {name!r} in {run_dir} (available: {', '.join(available) or 'none'})")
    return path


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
    from zeroplan.io.checkpoint import Checkpoint
    from zeroplan.mbrl.pets import PETS

    path = _checkpoint_path(run_dir, checkpoint)
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


def _eval_two_player(agent, opponent: str, games: int, seed: int, plies: int) -> dict:
    from zeroplan.envs.experts import make_opponent
    from zeroplan.eval.evaluate import evaluate_vs, openings

    try:
        opp = make_opponent(opponent, agent.config.env.id)
    except ValueError as err:
        raise UserError(str(err)) from None
    starts = openings(agent.runner.env_factory, plies) if plies else None
    result = evaluate_vs(agent.runner.model, agent.config, agent.runner.env_factory, opp, games, seed, starts)
    if starts is not None:
        result["openings"] = {"plies": plies, "count": len(starts)}
    return result


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
