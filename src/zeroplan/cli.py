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


def _default_run_dir(name: str, seed: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return Path("runs") / f"{safe}_seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
def train(
    env: str = typer.Argument(..., help="a preset (cartpole, tictactoe) or a Gymnasium env id"),
    seed: int = typer.Option(0, help="random seed"),
    run_dir: Optional[Path] = typer.Option(None, help="where the run is written (default runs/NAME_seedS_TIME)"),
    max_minutes: Optional[float] = typer.Option(None, help="stop after this many minutes"),
    max_env_steps: Optional[int] = typer.Option(None, help="stop after this many environment steps"),
    set_: List[str] = typer.Option([], "--set", help="config override, e.g. search.num_simulations=16"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Train a MuZero agent."""
    from zeroplan.config import load_config
    from zeroplan.muzero.agent import MuZero

    overrides: dict = {"run": {"seed": seed}}
    if max_minutes is not None:
        overrides["run"]["max_minutes"] = max_minutes
    if max_env_steps is not None:
        overrides["run"]["max_env_steps"] = max_env_steps
    config = load_config(env, overrides=overrides, dotted=set_)
    run_dir = run_dir or _default_run_dir(env, seed)
    typer.echo(f"run directory: {run_dir}", err=True)
    agent = MuZero(config=config, run_dir=run_dir)
    result = agent.learn(progress_bar=progress)
    agent.runner.close()
    summary = {"run_dir": str(run_dir), "env_steps": result.env_steps, "train_steps": result.train_steps,
               "seconds": round(result.seconds, 1),
               "best_eval": result.best_eval if result.evals else None, "solved_at": result.solved_at}
    typer.echo(json.dumps(summary))


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
        app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except _user_errors() as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except Exception as e:  # click's own usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
