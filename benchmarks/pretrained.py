"""Retrain the agents that ship with the package, measure each, and install them.

    python benchmarks/pretrained.py [--agents tictactoe,connect4,cartpole,lunarlander]
                                    [--work runs/pretrained] [--from-run NAME=RUN_DIR] [--install] [--json]

For each agent: `zeroplan train` with a fixed env-step budget (so a busy
machine makes the run slower, not weaker), then the agent's figure measured
on its best checkpoint with the search settings it ships with, then, with
`--install`, the checkpoint copied into `src/zeroplan/shipped/NAME` and its
card (command, commit, figures) written to `src/zeroplan/shipped/cards.json`.
`--from-run NAME=DIR` measures and installs an existing run instead of
training one (its card says so). tests/test_shipped.py checks that every
shipped agent still meets its figure.

The figures:
- tictactoe: no mistake on any line of perfect play (both sides), and 100
  games per side against the perfect expert without a loss;
- connect4: 100 games per side against depth-2 alpha-beta from the empty
  board, wins >= 60% each side (also vs random, and from the 49 openings);
- cartpole: mean return of 20 evaluation episodes >= 475;
- lunarlander: mean return of 100 evaluation episodes >= 200.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zeroplan
from zeroplan.envs.experts import perfect_play_mistakes

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "zeroplan" / "shipped"

AGENTS = {
    # name: (the `zeroplan train` arguments, the search settings it ships with)
    "tictactoe": (["tictactoe", "--algo", "alphazero", "--seed", "0", "--max-env-steps", "20000"], {}),
    # 580,000 env steps: what the preset's 30-minute run reached on an idle machine (journal/alphazero.md).
    # 64 simulations in play: vs depth-2 alpha-beta it did better than with 32 (training's) or 128.
    "connect4": (["connect4", "--algo", "alphazero", "--seed", "0", "--max-env-steps", "580000"],
                 {"num_simulations": 64}),
    "cartpole": (["cartpole", "--seed", "0", "--max-env-steps", "30000"], {}),
    "lunarlander": (["lunarlander", "--seed", "0", "--max-env-steps", "200000"], {}),
}


def _wins(result: dict) -> dict:
    return {side: result[side]["wins"] / sum(result[side].values()) for side in ("first", "second")}


def figures(name: str, agent) -> tuple[dict, bool]:
    """The agent's figures and whether they meet its bar (the module docstring)."""
    if name == "tictactoe":
        choose = lambda env: agent.predict(env._observation(), env.legal_mask(), to_play=env.to_play(), env=env)  # noqa: E731
        mistakes = {side: len(perfect_play_mistakes(choose, player)[1]) for player, side in enumerate(("first", "second"))}
        expert = agent.evaluate(100, opponent="expert")
        losses = {side: expert[side]["losses"] for side in ("first", "second")}
        random = _wins(agent.evaluate(100, opponent="random"))
        return ({"mistakes_vs_perfect_lines": mistakes, "losses_vs_expert_100": losses, "wins_vs_random_100": random},
                not any(mistakes.values()) and not any(losses.values()))
    if name == "connect4":
        ab2 = _wins(agent.evaluate(100, opponent="alphabeta:2"))
        random = _wins(agent.evaluate(100, opponent="random"))
        openings = _wins(agent.evaluate(1, opponent="alphabeta:2", openings=2))
        return ({"wins_vs_alphabeta2_100": ab2, "wins_vs_random_100": random,
                 "wins_vs_alphabeta2_from_49_openings": openings}, min(ab2.values()) >= 0.6)
    episodes = {"cartpole": 20, "lunarlander": 100}[name]
    bar = {"cartpole": 475.0, "lunarlander": 200.0}[name]
    result = agent.evaluate(episodes)
    return result, result["mean_return"] >= bar


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", ":!src/zeroplan/shipped"], cwd=ROOT,
                           capture_output=True, text=True).stdout  # agents installed by this script do not count
    return out.stdout.strip() + ("+dirty" if dirty.strip() else "")


def train(name: str, work: Path) -> tuple[Path, list[str], float]:
    args, _ = AGENTS[name]
    run_dir = work / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    command = ["zeroplan", "train", *args, "--run-dir", str(run_dir), "--no-progress"]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zeroplan.cli", *command[1:]], check=True)
    return run_dir, command, time.perf_counter() - start


def install(name: str, agent, card: dict) -> Path:
    dest = SHIPPED / name
    if dest.exists():
        shutil.rmtree(dest)
    agent.save(dest)
    cards_path = SHIPPED / "cards.json"
    cards = json.loads(cards_path.read_text()) if cards_path.is_file() else {}
    cards[name] = card
    cards_path.write_text(json.dumps(dict(sorted(cards.items())), indent=1) + "\n")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default=",".join(AGENTS))
    ap.add_argument("--work", type=Path, default=Path("runs/pretrained"))
    ap.add_argument("--from-run", action="append", default=[], metavar="NAME=RUN_DIR")
    ap.add_argument("--install", action="store_true", help="copy the measured agents into the package")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    given = dict(item.split("=", 1) for item in args.from_run)
    report = {}
    for name in args.agents.split(","):
        if name not in AGENTS:
            raise SystemExit(f"unknown agent {name!r}; known: {', '.join(AGENTS)}")
        if name in given:
            run_dir, command, seconds = Path(given[name]), None, None
        else:
            run_dir, command, seconds = train(name, args.work)
        agent = zeroplan.load(run_dir, search=AGENTS[name][1] or None)
        agent.rng = np.random.default_rng(0)
        start = time.perf_counter()
        measured, met = figures(name, agent)
        card = {"env": agent.config.env.id, "search_model": agent.config.search.model,
                "num_simulations": agent.config.search.num_simulations, "command": " ".join(command or []),
                "from_run": None if command else str(run_dir), "train_seconds": seconds,
                "env_steps": agent._counters[0], "train_steps": agent._counters[1], "commit": commit(),
                "date": datetime.date.today().isoformat(), "figures": measured, "meets_bar": met,
                "eval_seconds": round(time.perf_counter() - start, 1)}
        report[name] = card
        if not args.json:
            print(name, json.dumps(card))
        if args.install:
            if not met:
                print(f"{name}: below its bar, not installed", file=sys.stderr)
                continue
            install(name, agent, card)
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
