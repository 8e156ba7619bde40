"""PETS on Pendulum: evaluation return after every episode of data, CEM vs
random shooting in the same run.

    python benchmarks/pets.py --seeds 3 --json --planners cem,rs --episodes 15

For each seed and planner, trains `zeroplan.PETS(ENV)` from the preset (only
planner.name changes) for --episodes episodes and evaluates after each one on
--eval-episodes fixed starts (the same starts for every episode, planner and
seed offset). Seconds are wall-clock: `train_seconds` excludes all those
evaluations, and `train_seconds + final_eval_seconds` is what a plain
`PETS(ENV).learn()` run (which evaluates only every run.eval_interval episodes
and at the end) would take to reach the same final figure. Also prints the
return of uniform random actions from the same starts, for scale.

`--lock FILE` takes an exclusive flock on FILE around each (seed, planner)
run, so that a long benchmark takes turns with other training on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import statistics
import sys
import time

import numpy as np
import torch


@contextlib.contextmanager
def maybe_lock(path: str | None):
    if path is None:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run(env_id: str, planner: str, seed: int, episodes: int, eval_episodes: int, target: float,
        dotted: list[str]) -> dict:
    from zeroplan.mbrl.pets import PETS

    agent = PETS(env_id, seed=seed, tensorboard=False,
                 set=[f"planner.name={planner}", "run.eval_interval=1", f"run.eval_episodes={eval_episodes}",
                      f"run.max_episodes={episodes}", *dotted])
    t0 = time.perf_counter()
    res = agent.learn()
    total = time.perf_counter() - t0
    evals = [{"episode": e["episodes"], "env_steps": e["env_steps"], "mean_return": round(e["mean_return"], 1),
              "std_return": round(e["std_return"], 1), "train_seconds": round(e["seconds_excluding_eval"], 1)}
             for e in res.evals]
    final_eval_seconds = (res.seconds - res.evals[-1]["seconds"]) if res.evals else 0.0
    reached = next((e["episode"] for e in evals if e["mean_return"] >= target), None)
    return {"planner": planner, "seed": seed, "evals": evals,
            "episode_returns": [round(r, 1) for r in res.episode_returns],
            "final_eval": evals[-1]["mean_return"] if evals else None,
            "first_episode_at_target": reached,
            "train_seconds": round(res.evals[-1]["seconds_excluding_eval"], 1) if evals else None,
            "final_eval_seconds": round(final_eval_seconds, 1), "total_seconds": round(total, 1),
            "plan_ms_per_step": round(statistics.mean(res.plan_ms_per_step[agent.config.train.random_episodes:] or [0]), 1)}


def random_baseline(env_id: str, seed: int, episodes: int) -> float:
    from zeroplan.mbrl.pets import PETS
    from zeroplan.mbrl.rollout import run_episode

    agent = PETS(env_id, seed=seed, tensorboard=False)
    env, rng = agent.env_factory(), np.random.default_rng(seed)
    base = 10_000_019 + seed * 1_009  # PETS.evaluate's starts
    return float(np.mean([run_episode(env, base + i, lambda o: env.sample_action(rng)).ret for i in range(episodes)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--planners", default="cem,rs")
    p.add_argument("--episodes", type=int, default=15)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--target", type=float, default=-200.0)
    p.add_argument("--set", action="append", default=[], help="dotted config override, e.g. planner.horizon=20")
    p.add_argument("--lock", default=None, help="flock this file around each run")
    p.add_argument("--json", action="store_true", help="one JSON object per run, then a summary object")
    args = p.parse_args()
    torch.set_num_threads(1)
    planners = [s.strip() for s in args.planners.split(",") if s.strip()]
    rows = []
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        for planner in planners:
            with maybe_lock(args.lock):
                row = run(args.env, planner, seed, args.episodes, args.eval_episodes, args.target, args.set)
            row["random_return"] = round(random_baseline(args.env, seed, args.eval_episodes), 1)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"{planner} seed {seed}: eval after each episode "
                      f"{[e['mean_return'] for e in row['evals']]}; train {row['train_seconds']} s + final eval "
                      f"{row['final_eval_seconds']} s (random actions: {row['random_return']})", flush=True)
    summary = {}
    for planner in planners:
        mine = [r for r in rows if r["planner"] == planner]
        finals = [r["final_eval"] for r in mine]
        summary[planner] = {"seeds": len(mine), "final_eval_mean": round(statistics.mean(finals), 1),
                            "final_eval_min": min(finals), "seeds_at_target": sum(f >= args.target for f in finals),
                            "train_plus_final_eval_seconds_max": max(r["train_seconds"] + r["final_eval_seconds"]
                                                                     for r in mine)}
    print(json.dumps({"summary": summary}) if args.json else summary, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
