"""2048 after a fixed training time, against random play (issue 26).

    python benchmarks/stochastic.py --env 2048 --minutes 60 --seeds 2 [--games 20] [--json]

For each seed: `zeroplan train 2048 --max-minutes M`, then `--games` games of
its best checkpoint (no exploration noise): mean and max score and the
largest tile of each game. In the same run, random legal play over the same
number of games as the reference. Plain MuZero only for now: the issue's
comparison with Stochastic MuZero (chance nodes) waits for that variant.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zeroplan
from zeroplan.envs.frames import stack_frames
from zeroplan.envs.games.g2048 import Game2048


def play(choose, games: int, seed: int) -> dict:
    scores, tiles, lengths = [], [], []
    for g in range(games):
        env = Game2048()
        history = [env.reset(seed=seed + g)]
        while not env.is_over():
            history.append(env.step(choose(env, history))[0])
        scores.append(env.score)
        tiles.append(env.max_tile())
        lengths.append(len(history) - 1)
    return {"mean_score": float(np.mean(scores)), "max_score": int(np.max(scores)),
            "median_max_tile": float(np.median(tiles)), "max_tiles": sorted(tiles), "mean_moves": float(np.mean(lengths))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="2048", choices=["2048"])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("runs/stochastic"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = {"env": args.env, "minutes": args.minutes, "games": args.games,
           "random": play(lambda env, h: int(rng.choice(np.flatnonzero(env.legal_mask()))), args.games, 10_000)}
    for seed in range(args.seeds):
        run = args.work / f"muzero_seed{seed}"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zeroplan.cli", "train", args.env, "--seed", str(seed), "--max-minutes",
                        str(args.minutes), "--run-dir", str(run), "--no-progress"], check=True)
        seconds = time.perf_counter() - start
        agent = zeroplan.load(run)
        frames = agent.config.replay.stack_frames

        def choose(env, history):
            obs = stack_frames(history, len(history) - 1, frames)
            return int(agent.predict(obs, env.legal_mask(), env=env))

        out[f"muzero_seed{seed}"] = {**play(choose, args.games, 10_000), "train_seconds": seconds,
                                     "env_steps": agent._counters[0]}
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
