"""Ray backend on this machine: self-play throughput with 1 and 2 self-play
actors, learner updates per second, and time to solve CartPole with the Ray
backend against the local runner in the same run.

    python benchmarks/ray_scaling.py --json [--seeds 3] [--workers 1]

Self-play throughput: each actor plays the cartpole preset's 8 environments
in lockstep with the untrained network (tasks of 6 x MOVES_PER_TASK moves,
after one warm-up task), all actors at once, no learner; 1 and 2 actors are
measured in turn `--repeats` times and the median ratio is reported. Learner: 200 updates on batches from
the replay actor (filled by self-play first). Time to solve: the first
20-episode evaluation with mean >= 475 (the Ray runner evaluates in its own
actor, concurrently with training).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import ray
import torch

from zeroplan.config import load_config
from zeroplan.runners.local import LocalRunner
from zeroplan.runners.ray import (MOVES_PER_TASK, LearnerActor, ReplayActor, RayRunner, SelfPlayActor, _weights,
                                  init_ray)


def selfplay_rate(config, workers: int, tasks: int = 6) -> float:
    shell = LocalRunner(config, None, tensorboard=False)
    weights = [ray.put(_weights(shell.net))]
    actors = [ray.remote(SelfPlayActor).options(num_cpus=0).remote(config, None, i) for i in range(workers)]
    ray.get([a.play.options(num_returns=2).remote(MOVES_PER_TASK, 1.0, 0, weights)[0] for a in actors])  # warm-up
    start = time.perf_counter()
    stats = ray.get([a.play.options(num_returns=2).remote(MOVES_PER_TASK * tasks, 1.0, 0, weights)[0]
                     for a in actors])
    seconds = time.perf_counter() - start
    for a in actors:
        ray.kill(a)
    return sum(s["env_steps"] for s in stats) / seconds


def learner_rate(config, steps: int = 200) -> float:
    shell = LocalRunner(config, None, tensorboard=False)
    spec = shell.spec
    replay = ray.remote(ReplayActor).options(num_cpus=0).remote(config, spec.obs_shape, spec.num_actions,
                                                                 spec.num_players, 0)
    learner = ray.remote(LearnerActor).options(num_cpus=0).remote(config, spec.obs_shape, spec.num_actions, replay)
    actor = ray.remote(SelfPlayActor).options(num_cpus=0).remote(config, None, 0)
    weights = [ray.put(_weights(shell.net))]
    while ray.get(replay.size.remote()) < 2000:
        _, episodes = actor.play.options(num_returns=2).remote(MOVES_PER_TASK, 1.0, 0, weights)
        ray.get(replay.add.remote(episodes))
    ray.get(learner.train.remote(10))  # warm-up
    start = time.perf_counter()
    ray.get(learner.train.remote(steps))
    seconds = time.perf_counter() - start
    for a in (replay, learner, actor):
        ray.kill(a)
    return steps / seconds


def solve(backend: str, seed: int, workers: int, max_minutes: float) -> dict:
    config = load_config("cartpole", overrides={"run": {"seed": seed, "stop_at_return": 475.0,
                                                         "max_minutes": max_minutes}})
    shell = LocalRunner(config, None, tensorboard=False)
    runner = shell if backend == "local" else RayRunner(shell, num_workers=workers)
    start = time.perf_counter()
    res = runner.train()
    wall = time.perf_counter() - start
    if backend == "ray":
        runner.shutdown()
    solved = res.solved_at
    return {"backend": backend, "seed": seed, "solved": solved is not None, "wall_seconds": round(wall, 1),
            "env_steps": solved["env_steps"] if solved else None, "train_steps": res.train_steps,
            "best_eval": res.best_eval}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="self-play actors for the time-to-solve runs")
    ap.add_argument("--max-minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3, help="self-play throughput measurements (1 and 2 actors)")
    ap.add_argument("--skip-solve", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--backends", default="local,ray", help="time-to-solve runs on these backends")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    init_ray(None)
    config = load_config("cartpole")
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU", "ray": ray.__version__}
    if not args.skip_throughput:
        # Alternating repeats, so a burst of other load on this shared machine
        # lands in one pair rather than in every 1-actor or every 2-actor figure.
        pairs = [(selfplay_rate(config, 1), selfplay_rate(config, 2)) for _ in range(args.repeats)]
        ratios = [two / one for one, two in pairs]
        out["selfplay_env_steps_per_s"] = {
            "1": [round(one) for one, _ in pairs], "2": [round(two) for _, two in pairs],
            "ratio_2_to_1": [round(r, 2) for r in ratios], "median_ratio_2_to_1": round(statistics.median(ratios), 2)}
        out["learner_steps_per_s"] = round(learner_rate(config), 1)
        if not args.json:
            print(json.dumps(out), flush=True)
    backends = args.backends.split(",")
    if not args.skip_solve:
        runs = []
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            for backend in backends:
                runs.append(solve(backend, seed, args.workers, args.max_minutes))
                if not args.json:
                    print(json.dumps(runs[-1]), flush=True)
        out["solve_runs"] = runs
        for backend in backends:
            times = [r["wall_seconds"] for r in runs if r["backend"] == backend and r["solved"]]
            out[f"median_wall_seconds_{backend}"] = statistics.median(times) if times else None
    print(json.dumps(out))
    ray.shutdown()


if __name__ == "__main__":
    main()
