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
    env: Optional[str] = typer.Argument(None, help="a preset (cartpole, tictactoe) or a Gymnasium env id"),
    resume: Optional[Path] = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="a YAML file of config settings "
                                               "(applied over the preset, before --set)"),
    seed: Optional[int] = typer.Option(None, min=0, help="random seed (default 0)"),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is written (default runs/NAME_seedS_TIME)"),
    max_minutes: Optional[float] = typer.Option(None, min=0.001, help="stop after this many minutes (of this call)"),
    max_env_steps: Optional[int] = typer.Option(None, min=1, help="stop after this many environment steps in all"),
    set_: List[str] = typer.Option([], "--set", help="config override, e.g. search.num_simulations=16"),
    progress: bool = typer.Option(True, help="show a progress bar"),
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
        if env is not None or config_file is not None or seed is not None or run_dir is not None:
            raise UserError("--resume continues a run with its own environment, config and seed; "
                            "give no ENV, --config, --seed or --run-dir with it")
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
        config = load_config(env, overrides=_merge_file(overrides, config_file), dotted=set_)
        run_dir = run_dir or _default_run_dir(env, seed)
        typer.echo(f"run directory: {run_dir}", err=True)
        agent = MuZero(config=config, run_dir=run_dir)
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
    opponent: Optional[str] = typer.Option(None, help="two-player games: random | expert"),
    games: int = typer.Option(100, min=1, help="games per side against the opponent"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json", help="print only the JSON result"),
) -> None:
    """Evaluate a trained agent without exploration noise; the JSON result is the last line."""
    from zeroplan.muzero.agent import MuZero

    if checkpoint is None:
        checkpoint = "best" if (run_dir / "checkpoints" / "best").exists() else "last"
    path = run_dir / "checkpoints" / checkpoint
    if not path.exists():
        available = sorted(p.name for p in (run_dir / "checkpoints").glob("*")) if (run_dir / "checkpoints").is_dir() \
            else []
        raise UserError(f"no checkpoint {checkpoint!r} in {run_dir} (available: {', '.join(available) or 'none'})")
    agent = MuZero.load(path)
    if agent.spec.num_players == 2:
        result = _eval_two_player(agent, opponent or "expert", games, seed)
    else:
        if opponent is not None:
            raise UserError(f"--opponent is for two-player games; {agent.config.env.id} has one player")
        from zeroplan.eval.evaluate import evaluate_returns
        import numpy as np

        returns = evaluate_returns(agent.runner.model, agent.config, agent.runner.env_factory, episodes, seed=seed)
        result = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}
    if not as_json:
        typer.echo(f"{agent.config.env.id}, checkpoint {checkpoint}:", err=True)
    typer.echo(json.dumps(result))


def _eval_two_player(agent, opponent: str, games: int, seed: int) -> dict:
    from zeroplan.envs.experts import make_opponent
    from zeroplan.eval.evaluate import evaluate_vs

    try:
        opp = make_opponent(opponent, agent.config.env.id)
    except ValueError as err:
        raise UserError(str(err)) from None
    return evaluate_vs(agent.runner.model, agent.config, agent.runner.env_factory, opp, games, seed)


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
