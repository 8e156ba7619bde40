"""Pixels (issue 24): zeroplan on MinAtar against Stable-Baselines3 DQN and PPO at equal env steps.

    python benchmarks/minatar_games.py --games all --minutes 60 --seeds 1 [--episodes 30] [--json]
    python benchmarks/minatar_games.py --games Breakout --minutes 10 --skip-baselines

(Not benchmarks/minatar.py, the name issue 24 asked for: Python puts a
script's folder first on sys.path, so a file of that name in benchmarks/
would stand in for the `minatar` package in every script run from there.)

For each game and seed: `zeroplan train MinAtar/<Game>-v1 --max-minutes M`
(the `minatar` preset), then its final policy (the last checkpoint) plays
--episodes episodes without exploration; so does the best checkpoint of its
periodic evaluations, what `zeroplan eval` takes, reported beside it. Then,
in the same run, SB3 DQN and PPO train for exactly the env steps zeroplan
used and their final policies play the same number of episodes,
deterministically. "Ahead" compares the final policies. Their
settings (zeroplan/baselines.py): the MinAtar paper's small CNN (3x3 conv of
16 filters, 128 units) for both, the paper's DQN settings, rl-zoo's Atari PPO
settings. A uniformly random policy over the same episodes is the reference.
Printed per game: the mean returns, zeroplan's env steps and updates per
second, and whether zeroplan is ahead of both.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zeroplan
from zeroplan.baselines import Protocol, evaluate_policy, gym_env_factory, train_baseline
from zeroplan.config import load_config

GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


def random_return(make_env, episodes: int, seed: int) -> float:
    env = make_env()
    rng = np.random.default_rng(seed)
    n = env.action_space.n
    env.close()
    return evaluate_policy(lambda obs: int(rng.integers(n)), make_env, episodes, seed)


def training_seconds(run: Path) -> float:
    """A finished run's wall-clock, from the last row of its metrics.csv that has it."""
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("time/elapsed_s")]
    return float(rows[-1]["time/elapsed_s"])


def run_game(game: str, seed: int, args) -> dict:
    env_id = f"MinAtar/{game}-v1"
    config = load_config(env_id)
    make_env = gym_env_factory(config.env, config.env.max_episode_steps or 10_000)
    run = args.work / f"{game}_seed{seed}"
    if args.reuse and (run / "checkpoints").is_dir():
        seconds = training_seconds(run)
    else:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zeroplan.cli", "train", env_id, "--seed", str(seed), "--max-minutes",
                        str(args.minutes), "--run-dir", str(run), "--no-progress", *args.set], check=True)
        seconds = time.perf_counter() - start
    final = zeroplan.load(run / "checkpoints" / "last")
    env_steps, train_steps = final._counters
    best = zeroplan.load(run)  # the checkpoint `zeroplan eval` takes: the best periodic evaluation's
    out = {"game": game, "seed": seed, "env_steps": env_steps, "train_steps": train_steps,
           "train_seconds": round(seconds, 1), "env_steps_per_s": round(env_steps / seconds, 1),
           "updates_per_s": round(train_steps / seconds, 2),
           "zeroplan": final.evaluate(args.episodes, seed=100_000 + seed)["mean_return"],
           "zeroplan_best": best.evaluate(args.episodes, seed=100_000 + seed)["mean_return"],
           "zeroplan_best_env_steps": best._counters[0],
           "random": random_return(make_env, args.episodes, 100_000 + seed)}
    if not args.skip_baselines:
        for algo in ("dqn", "ppo"):
            t0 = time.perf_counter()
            result = train_baseline(algo, make_env, env_id, seed, Protocol(interval=env_steps, episodes=args.episodes),
                                    env_steps, None)
            out[algo] = result["evals"][-1]["mean_return"]
            out[f"{algo}_settings"] = result["settings"]
            out[f"{algo}_seconds"] = round(time.perf_counter() - t0, 1)
        out["ahead_of_both"] = out["zeroplan"] > max(out["dqn"], out["ppo"])
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--games", default="all", help="all, or comma-separated names (Breakout,Asterix,...)")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="a game whose run directory under --work has checkpoints "
                    "is not trained again (its seconds are read from its metrics.csv)")
    ap.add_argument("--set", nargs="*", default=[], help="extra `zeroplan train` arguments, e.g. --set net.channels=32")
    ap.add_argument("--work", type=Path, default=Path("runs/bench_minatar"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.set = [x for pair in args.set for x in ("--set", pair)]
    games = GAMES if args.games == "all" else tuple(g.strip() for g in args.games.split(","))
    unknown = [g for g in games if g not in GAMES]
    if unknown:
        ap.error(f"unknown games {unknown}; MinAtar has {', '.join(GAMES)}")
    rows = [run_game(g, s, args) for g in games for s in range(args.first_seed, args.first_seed + args.seeds)]
    summary = {"minutes": args.minutes, "episodes": args.episodes, "rows": rows}
    if not args.skip_baselines:
        per_game = {g: statistics.median(float(r["ahead_of_both"]) for r in rows if r["game"] == g) >= 0.5
                    for g in games}
        summary["games_ahead_of_both"] = sum(per_game.values())
        summary["games"] = len(games)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'game':14} {'seed':>4} {'env steps':>10} {'steps/s':>8} {'upd/s':>6} {'zeroplan':>9} "
              f"{'DQN':>7} {'PPO':>7} {'random':>7}")
        for r in rows:
            print(f"{r['game']:14} {r['seed']:>4} {r['env_steps']:>10,} {r['env_steps_per_s']:>8} "
                  f"{r['updates_per_s']:>6} {r['zeroplan']:>9.2f} {r.get('dqn', float('nan')):>7.2f} "
                  f"{r.get('ppo', float('nan')):>7.2f} {r['random']:>7.2f}")
        if "games_ahead_of_both" in summary:
            print(f"zeroplan ahead of both on {summary['games_ahead_of_both']} of {summary['games']} games")


if __name__ == "__main__":
    main()
