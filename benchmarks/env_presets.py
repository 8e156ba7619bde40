"""Train each preset for its time budget, then evaluate its best checkpoint.

    python benchmarks/env_presets.py --json [--presets frozenlake,frozenlake-slippery] [--seed 0] [--keep-runs DIR]

Single-player presets: mean return over `--episodes` evaluation episodes (for
FrozenLake, the success rate). Two-player presets: wins/draws/losses per side
against random play and against the preset's expert (connect four: also
alpha-beta at depths 2 and 4), from the empty board (`--games` per side) and
once per side from every two-move opening (`vs_openings`). Connect four also
gets the tactics probe (benchmarks/connect4_tactics.py: wins in one taken,
forced blocks made) and, for a MuZero run, `rules_probe`: the same network
searching copies of the real game instead of its learned model, from the
openings: if that plays much better, the learned model is what limits the
agent; if not, the network (the recipe) is. Budgets are the issue's targets on
2 cores; `--minutes-scale 0.5` halves them for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np

# preset -> (minutes, target description)
BUDGETS = {
    "frozenlake": (1.0, "mean return 1.0 (every episode reaches the goal)"),
    "frozenlake-slippery": (10.0, "success >= 0.7"),
    "cartpole": (5.0, "mean return >= 475"),
    "lunarlander": (60.0, "mean return >= 200"),
    "tictactoe": (10.0, "no losses against perfect play"),
    "tictactoe-alphazero": (2.0, "no losses against perfect play"),
    "connect4": (60.0, "from every 2-move opening, per side: >= 90% wins vs alpha-beta depth 2, >= 50% vs depth 4; "
                 "wins in one >= 99%, blocks >= 95%"),
    "connect4-alphazero": (60.0, "as connect4 (the upper bound for MuZero's learned model)"),
}


def run_preset(name: str, seed: int, minutes: float, episodes: int, games: int, keep: str | None = None) -> dict:
    from zeroplan.envs.experts import make_opponent
    from zeroplan.eval.evaluate import evaluate_returns, evaluate_vs, openings
    from zeroplan.muzero.agent import MuZero, load

    with tempfile.TemporaryDirectory() as scratch:
        tmp = scratch if keep is None else os.path.join(keep, name)
        agent = MuZero(name, seed=seed, run_dir=tmp, tensorboard=False)
        out = {"torch_threads": agent.runner.torch_threads}
        start = time.perf_counter()
        result = agent.learn(max_minutes=minutes)
        seconds = time.perf_counter() - start
        agent.close()
        best = load(tmp)
        out.update({"preset": name, "seed": seed, "budget_minutes": minutes, "seconds": round(seconds, 1),
                    "env_steps": result.env_steps, "solved_at": result.solved_at})
        model, env_factory = best.model, best.env_factory
        if best.spec.num_players == 1:
            returns = evaluate_returns(model, best.config, env_factory, episodes, seed=seed + 777)
            out.update(mean_return=float(np.mean(returns)), std_return=float(np.std(returns)), episodes=episodes)
        else:
            connect4 = best.config.env.id == "connect4"
            opponents = ["random", "expert"] + (["alphabeta:2", "alphabeta:4"] if connect4 else [])
            out["vs"] = {opp: evaluate_vs(model, best.config, env_factory,
                                          make_opponent(opp, best.config.env.id), games, seed + 777)
                         for opp in opponents}
            # The same opponents from every two-move opening, once per side: not one line per side.
            starts = openings(env_factory, 2)
            out["vs_openings"] = {opp: evaluate_vs(model, best.config, env_factory,
                                                   make_opponent(opp, best.config.env.id), 0, seed + 777, starts)
                                  for opp in opponents}
            out["openings"] = len(starts)
            if connect4:
                from connect4_strength import strength
                from connect4_tactics import tactics

                out["tactics"] = tactics(best, 200, seed)
                if best.config.search.model == "learned":  # the same network, searching the real rules
                    out["rules_probe"] = strength(load(tmp, search={"model": "rules"}), seed + 777)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default=",".join(BUDGETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--games", type=int, default=100, help="games per side, two-player presets")
    ap.add_argument("--minutes-scale", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep-runs", metavar="DIR", help="train in DIR/PRESET and keep the runs (default: a temporary "
                    "directory); DIR/PRESET must not exist yet")
    args = ap.parse_args()
    rows = []
    for name in args.presets.split(","):
        if name not in BUDGETS:
            raise SystemExit(f"unknown preset {name!r}; known: {', '.join(BUDGETS)}")
        minutes, target = BUDGETS[name]
        if args.keep_runs and os.path.exists(os.path.join(args.keep_runs, name)):
            raise SystemExit(f"{os.path.join(args.keep_runs, name)} exists; --keep-runs needs a fresh directory")
        row = run_preset(name, args.seed, minutes * args.minutes_scale, args.episodes, args.games, args.keep_runs)
        row["target"] = target
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU", "results": rows}))


if __name__ == "__main__":
    main()
