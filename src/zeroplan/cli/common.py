"""What every `zeroplan` command shares: the typer app, the user-error type
and the checks of backend options."""

from __future__ import annotations

from pathlib import Path

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

