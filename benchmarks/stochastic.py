"""Chance (issue 26): Stochastic MuZero against plain MuZero with the same settings, in the same run.

    python benchmarks/stochastic.py --env 2048 --minutes 60 --seeds 2 [--games 20] [--json]
    python benchmarks/stochastic.py --env frozenlake --seeds 1 [--json]

2048: for each seed, `zeroplan train 2048 --max-minutes M` twice, plain (the
preset) and Stochastic MuZero (the preset with --set net.chance_codes=C,
default 32; nothing else changed), then --games games of each run's best
checkpoint without exploration: mean and max score and the largest tiles.
Random legal play over the same games is the reference.

frozenlake: the slippery lake, the `frozenlake-slippery` preset (plain MuZero)
against `frozenlake-chance` (chance nodes), and as an ablation
`frozenlake-chance-codes0`, frozenlake-chance with net.chance_codes=0 (its
other settings, plain MuZero):
the env steps and seconds until a 100-episode evaluation first reaches a
success rate of 0.7, every --eval-interval env steps, within --max-env-steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def run_2048(args) -> dict:
    rng = np.random.default_rng(0)
    out = {"env": "2048", "minutes": args.minutes, "games": args.games, "chance_codes": args.codes,
           "random": play(lambda env, h: int(rng.choice(np.flatnonzero(env.legal_mask()))), args.games, 10_000)}
    variants = {"muzero": [], "stochastic": ["--set", f"net.chance_codes={args.codes}"]}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        for name, extra in variants.items():
            run = args.work / f"{name}_seed{seed}"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "zeroplan.cli", "train", "2048", "--seed", str(seed),
                            "--max-minutes", str(args.minutes), "--run-dir", str(run), "--no-progress", *extra],
                           check=True)
            seconds = time.perf_counter() - start
            agent = zeroplan.load(run)
            frames = agent.config.replay.stack_frames

            def choose(env, history):
                obs = stack_frames(history, len(history) - 1, frames)
                return int(agent.predict(obs, env.legal_mask(), env=env))

            out[f"{name}_seed{seed}"] = {**play(choose, args.games, 10_000), "train_seconds": round(seconds, 1),
                                         "env_steps": agent._counters[0]}
    for name in variants:
        scores = [out[f"{name}_seed{s}"]["mean_score"] for s in seeds]
        out[f"{name}_median_mean_score"] = statistics.median(scores)
    out["ratio_stochastic_to_muzero"] = out["stochastic_median_mean_score"] / out["muzero_median_mean_score"]
    return out


def run_frozenlake(args) -> dict:
    from zeroplan.config import load_config
    from zeroplan.runners.local import LocalRunner

    out: dict = {"env": "FrozenLake-v1 slippery", "target": 0.7, "max_env_steps": args.max_env_steps}
    variants = {"frozenlake-slippery": ("frozenlake-slippery", []),
                "frozenlake-chance": ("frozenlake-chance", []),
                "frozenlake-chance-codes0": ("frozenlake-chance", ["net.chance_codes=0"])}
    for name, (preset, dotted) in variants.items():
        if name not in args.variants:
            continue
        rows = []
        for seed in range(args.seeds):
            config = load_config(preset, overrides={"run": {
                "seed": seed, "stop_at_return": 0.7, "max_env_steps": args.max_env_steps, "max_minutes": None,
                "eval_interval": args.eval_interval, "eval_episodes": 100}}, dotted=dotted)
            t0 = time.perf_counter()
            res = LocalRunner(config, run_dir=None, tensorboard=False).train()
            hit = res.solved_at
            rows.append({"seed": seed, "env_steps": hit["env_steps"] if hit else None,
                         "seconds": round(hit["seconds_excluding_eval"], 1) if hit else None,
                         "best_eval": res.best_eval, "env_steps_run": res.env_steps,
                         "seconds_run": round(time.perf_counter() - t0, 1),
                         "curve": [(e["env_steps"], e["mean_return"]) for e in res.evals]})
        reached = [r["env_steps"] for r in rows if r["env_steps"] is not None]
        out[name] = {"runs": rows, "median_env_steps": statistics.median(reached) if len(reached) == len(rows)
                       else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="2048", choices=["2048", "frozenlake"])
    ap.add_argument("--minutes", type=float, default=60, help="2048: training minutes per run")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--games", type=int, default=20, help="2048: evaluation games per run")
    ap.add_argument("--codes", type=int, default=32, help="2048: net.chance_codes of the Stochastic MuZero run")
    ap.add_argument("--max-env-steps", type=int, default=200_000, help="frozenlake: budget per run")
    ap.add_argument("--eval-interval", type=int, default=10_000, help="frozenlake: env steps between evaluations")
    ap.add_argument("--variants", default="frozenlake-slippery,frozenlake-chance,frozenlake-chance-codes0",
                    help="frozenlake: which of the three to run, comma-separated")
    ap.add_argument("--work", type=Path, default=Path("runs/stochastic"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.variants = {v.strip() for v in args.variants.split(",")}
    out = run_2048(args) if args.env == "2048" else run_frozenlake(args)
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
