"""The `zeroplan` command: train, eval, diagnose, play (cli/run.py), tune,
compare, plot (cli/tools.py), explain, serve, export (cli/agent.py).

Bad input (a config key, an env id, a checkpoint) ends with one message naming
the problem and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from zeroplan.cli import agent, run, tools  # noqa: F401  (their commands register on the app)
from zeroplan.cli.common import UserError, _run_faults, _user_errors, app

__all__ = ["UserError", "app", "main"]


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

