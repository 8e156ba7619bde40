"""Atari 100k (issue 24): train on 100k agent steps (400k frames), then play 30 whole games.

    python benchmarks/atari100k.py --games Pong,Breakout [--agent-steps 100000] [--episodes 30]
                                   [--seeds 1] [--device auto] [--json]

For each game and seed: `zeroplan train ALE/<Game>-v5` with the `atari`
preset (envs/atari.py's protocol: sticky actions, 4 frames a step, no-op
starts, life loss ending training episodes only) for --agent-steps, then the
best checkpoint (the last when the run was never evaluated) plays --episodes
whole games without exploration. Printed: the mean score, the
human-normalised score (score - random) / (human - random) from the standard
table below (random and human scores of the 26 Atari 100k games, as reported
since DQN), and the run's env steps and updates per second. The median and
mean normalised score over the games close the report.

This is for a GPU and hours: on 2 CPU cores one game takes most of a day.
Check it end to end with `--agent-steps 2000 --episodes 2`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zeroplan

# (random, human) scores.
SCORES = {
    "Alien": (227.8, 7127.7), "Amidar": (5.8, 1719.5), "Assault": (222.4, 742.0), "Asterix": (210.0, 8503.3),
    "BankHeist": (14.2, 753.1), "BattleZone": (2360.0, 37187.5), "Boxing": (0.1, 12.1), "Breakout": (1.7, 30.5),
    "ChopperCommand": (811.0, 7387.8), "CrazyClimber": (10780.5, 35829.4), "DemonAttack": (152.1, 1971.0),
    "Freeway": (0.0, 29.6), "Frostbite": (65.2, 4334.7), "Gopher": (257.6, 2412.5), "Hero": (1027.0, 30826.4),
    "Jamesbond": (29.0, 302.8), "Kangaroo": (52.0, 3035.0), "Krull": (1598.0, 2665.5),
    "KungFuMaster": (258.5, 22736.3), "MsPacman": (307.3, 6951.6), "Pong": (-20.7, 14.6),
    "PrivateEye": (24.9, 69571.3), "Qbert": (163.9, 13455.0), "RoadRunner": (11.5, 7845.0),
    "Seaquest": (68.4, 42054.7), "UpNDown": (533.4, 11693.2),
}


def normalised(game: str, score: float) -> float:
    random, human = SCORES[game]
    return (score - random) / (human - random)


def run_game(game: str, seed: int, args) -> dict:
    run = args.work / f"{game}_seed{seed}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zeroplan.cli", "train", f"ALE/{game}-v5", "--seed", str(seed),
                    "--max-env-steps", str(args.agent_steps), "--device", args.device, "--run-dir", str(run),
                    "--no-progress", *args.set], check=True)
    seconds = time.perf_counter() - start
    agent = zeroplan.load(run)
    env_steps, train_steps = agent._counters
    score = agent.evaluate(args.episodes, seed=200_000 + seed)["mean_return"]
    row = {"game": game, "seed": seed, "agent_steps": env_steps, "train_steps": train_steps,
           "train_seconds": round(seconds, 1), "env_steps_per_s": round(env_steps / seconds, 2),
           "updates_per_s": round(train_steps / seconds, 2), "score": score,
           "human_normalised": round(normalised(game, score), 4)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--games", default="Pong,Breakout", help="comma-separated names from the table, or all")
    ap.add_argument("--agent-steps", type=int, default=100_000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", nargs="*", default=[], help="extra settings, e.g. --set search.num_simulations=32")
    ap.add_argument("--work", type=Path, default=Path("runs/bench_atari100k"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.set = [x for pair in args.set for x in ("--set", pair)]
    games = list(SCORES) if args.games == "all" else [g.strip() for g in args.games.split(",")]
    unknown = [g for g in games if g not in SCORES]
    if unknown:
        ap.error(f"games without random/human scores: {unknown}; known: {', '.join(SCORES)}")
    rows = [run_game(g, s, args) for g in games for s in range(args.seeds)]
    per_game = [statistics.median(r["human_normalised"] for r in rows if r["game"] == g) for g in games]
    summary = {"agent_steps": args.agent_steps, "episodes": args.episodes, "rows": rows,
               "median_human_normalised": statistics.median(per_game),
               "mean_human_normalised": statistics.fmean(per_game)}
    if args.json:
        print(json.dumps(summary))
    else:
        for r in rows:
            print(f"{r['game']:16} seed {r['seed']}: score {r['score']:8.1f}  normalised {r['human_normalised']:7.3f}  "
                  f"{r['env_steps_per_s']} steps/s  {r['updates_per_s']} updates/s")
        print(f"median human-normalised {summary['median_human_normalised']:.3f}, "
              f"mean {summary['mean_human_normalised']:.3f}")


if __name__ == "__main__":
    main()
