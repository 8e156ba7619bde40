"""Commands on a trained agent: explain (its search as a picture), serve (a
web page to play and watch it), export (ONNX). Each takes a run directory, a
checkpoint, or `pretrained:NAME`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from zeroplan.cli.common import UserError, app


def _load_muzero(run_dir: Path, set_: list[str], what: str):
    """A MuZero-family agent (AlphaZero included), with other search settings if asked."""
    from zeroplan.config import search_overrides
    from zeroplan.io.checkpoint import Checkpoint, find_checkpoint
    from zeroplan.muzero.agent import load

    path = find_checkpoint(run_dir)
    algo = Checkpoint(path).meta.get("algo")
    if algo != "muzero":
        raise UserError(f"{run_dir}: {what} needs a MuZero or AlphaZero agent (a search tree); this is a {algo} run")
    search = search_overrides(set_) if set_ else None
    return load(path, search=search)


@app.command()
def explain(
    run_dir: Path = typer.Argument(..., help="a run directory, a checkpoint, or pretrained:NAME"),
    out: Optional[Path] = typer.Option(None, help="write the tree as a picture: FILE.svg or FILE.png"),
    position: Optional[str] = typer.Option(None, help="the moves from the start that lead to the position, "
                                           "e.g. '3 3 4' (default: the start)"),
    seed: int = typer.Option(0, help="the episode's reset seed"),
    step: Optional[int] = typer.Option(None, min=0, help="the position after the agent's own first T decisions "
                                       "of the episode from --seed (instead of --position)"),
    top: int = typer.Option(3, min=1, max=20, help="children shown per node (the most visited)"),
    depth: int = typer.Option(3, min=1, max=8, help="levels of the tree shown"),
    as_json: bool = typer.Option(False, "--json", help="print the data of the tree as JSON"),
    set_: List[str] = typer.Option([], "--set", help="other search settings, e.g. search.num_simulations=64"),
) -> None:
    """The search tree of one decision: each edge's visits, prior, Q and reward, pruned to the top children."""
    from zeroplan.explain import ExplainError, explain_command, parse_moves

    if out is None and not as_json:
        raise UserError("nothing to write: give --out FILE.svg (or .png), --json, or both")
    agent = _load_muzero(run_dir, set_, "explain")
    try:
        moves = parse_moves(position) if position is not None else None
        data = explain_command(agent, out, moves=moves, seed=seed, step=step, top=top, depth=depth)
    except ExplainError as err:
        raise UserError(str(err)) from None
    if out is not None:
        typer.echo(f"{data['env']}: plays {data['action']} (root value {data['root_value']:+.3f}); "
                   f"tree written to {out}", err=True)
    if as_json:
        typer.echo(json.dumps(data))


@app.command()
def serve(
    run_dir: Path = typer.Argument(..., help="a run directory, a checkpoint, or pretrained:NAME"),
    port: int = typer.Option(8000, min=1, max=65535),
    host: str = typer.Option("127.0.0.1", help="the address to listen on (0.0.0.0 opens the page to your network)"),
    set_: List[str] = typer.Option([], "--set", help="other search settings, e.g. search.num_simulations=64"),
) -> None:
    """A local web page to play a board game against the agent, or watch a single-player agent, with its search."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("zeroplan serve needs a web server: pip install 'zeroplan[serve]'") from None
    from zeroplan.serve.app import serve as run_server

    agent = _load_muzero(run_dir, set_, "serve")
    typer.echo(f"serving {run_dir} ({agent.config.env.id}) on http://{host}:{port}/ ; Ctrl-C stops", err=True)
    run_server(agent, str(run_dir), host=host, port=port)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="a run directory, a checkpoint, or pretrained:NAME"),
    onnx: Path = typer.Option(..., "--onnx", help="the directory to write the ONNX files and search.json to"),
) -> None:
    """The agent's representation, dynamics and prediction networks as ONNX files, and what a search needs (docs/export.md)."""
    from zeroplan.export import ExportError, export_onnx

    agent = _load_muzero(run_dir, [], "export")
    try:
        spec = export_onnx(agent, onnx)
    except ExportError as err:
        raise UserError(str(err)) from None
    typer.echo(f"{', '.join(spec['files'].values())} and search.json written to {onnx}", err=True)
    typer.echo(json.dumps({"dir": str(onnx), **{k: spec[k] for k in ("env", "obs_shape", "num_actions")}}))
