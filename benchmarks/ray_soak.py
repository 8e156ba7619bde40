"""Soak on the Ray backend with faults: train CartPole for a long while with a
small replay capacity, kill a self-play actor every `--kill-every` seconds
(Ray restarts it), and sample the resident memory of the driver and every
actor process. The run should finish, memory should stay flat once the buffer
is full (target: growth under 5%), and the env-step and update counters should
never go back.

    python benchmarks/ray_soak.py --minutes 20 --kill-every 60 --json

Evaluation and the stop-at-return are off, so it trains for the whole time.
Linux only (reads /proc/PID/statm).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time

import ray
from soak import growth_after_full, soak_config  # benchmarks/soak.py, beside this script

from zeroplan.runners.local import LocalRunner
from zeroplan.runners.ray import RayRunner, init_ray


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # a process that just died
        return 0.0


def actor_pids(runner: RayRunner) -> list[int]:
    actors = [runner.learner, runner.replay, runner.evaluator, *runner.workers]
    pids = []
    for actor in actors:
        try:
            pids.append(ray.get(actor.__ray_call__.remote(lambda self: os.getpid()), timeout=10))
        except Exception:  # restarting: counted at the next sample
            pass
    return pids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--capacity", type=int, default=5000, help="replay capacity in transitions")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--kill-every", type=float, default=60.0, help="seconds between self-play actor kills")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    config = soak_config(args.capacity, args.seed)
    init_ray(None)
    samples: list[dict] = []
    kills = 0
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalRunner(config, tmp, tensorboard=True)
        runner = RayRunner(local, num_workers=args.workers)
        res = local.result
        start = time.perf_counter()
        stop = threading.Event()

        def watch() -> None:
            nonlocal kills
            next_kill = args.kill_every
            while not stop.is_set():
                now = time.perf_counter() - start
                if now >= next_kill:
                    ray.kill(runner.workers[kills % len(runner.workers)], no_restart=False)
                    kills += 1
                    next_kill += args.kill_every
                pids = [os.getpid(), *actor_pids(runner)]
                samples.append({"seconds": round(now, 1), "rss_mib": round(sum(rss_mib(p) for p in pids), 1),
                                "processes": len(pids), "env_steps": res.env_steps, "train_steps": res.train_steps,
                                "replay": ray.get(runner.replay.size.remote()), "kills": kills})
                if not args.json:
                    print(samples[-1], flush=True)
                stop.wait(min(args.interval, max(0.1, start + next_kill - time.perf_counter())))

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        runner.train(max_minutes=args.minutes)
        stop.set()
        thread.join()
        restarts = runner.restarts
        runner.shutdown()
        local.close()
    # Whole samples only: every actor answered (a restarting one is missing from a sample).
    whole = [s for s in samples if s["processes"] == 4 + args.workers]
    steps = [(s["env_steps"], s["train_steps"]) for s in samples]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "seed": args.seed, "minutes": args.minutes,
        "workers": args.workers, "capacity": args.capacity, "kills": kills, "restarts_seen_by_driver": restarts,
        "env_steps": res.env_steps, "train_steps": res.train_steps,
        "counters_never_went_back": all(a <= b for a, b in zip(steps, steps[1:])),
        **growth_after_full(whole, args.capacity), "samples": samples,
    }
    print(json.dumps(result) if args.json else json.dumps({k: v for k, v in result.items() if k != "samples"},
                                                          indent=1))


if __name__ == "__main__":
    main()
