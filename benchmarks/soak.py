"""Soak: train CartPole for a long while with a small replay capacity and
sample resident memory every 10 s. Once the buffer is full, memory should stay
flat (the target: growth under 5%).

    python benchmarks/soak.py --minutes 20 --json

The run is a normal one (run directory, TensorBoard, metrics.csv, periodic
checkpoints), with evaluation and the stop-at-return turned off so it keeps
training for the whole time. Linux only (reads /proc/self/statm).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time

from zeroplan.config import load_config
from zeroplan.runners.local import LocalRunner


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak_config(capacity: int, seed: int):
    """CartPole with a small buffer, trained with no end: no evaluation, no stop at a return."""
    return load_config("cartpole", dotted=[
        f"replay.capacity={capacity}", "run.max_env_steps=100000000", "run.stop_at_return=null",
        "run.eval_interval=100000000", f"run.seed={seed}", "run.checkpoint_seconds=120"])


def growth_after_full(samples: list[dict], capacity: int) -> dict:
    """Resident memory from the first sample with a full buffer to the last and the largest."""
    full = [s for s in samples if s["replay"] >= capacity]
    if not full:
        return {"buffer_full_at_seconds": None}
    base = full[0]["rss_mib"]
    return {"buffer_full_at_seconds": full[0]["seconds"], "rss_mib_at_full": base, "rss_mib_end": full[-1]["rss_mib"],
            "rss_mib_max_after_full": max(s["rss_mib"] for s in full),
            "growth_after_full": (full[-1]["rss_mib"] - base) / base,
            "max_growth_after_full": (max(s["rss_mib"] for s in full) - base) / base}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--capacity", type=int, default=5000, help="replay capacity in transitions")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between memory samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    config = soak_config(args.capacity, args.seed)
    samples: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        runner = LocalRunner(config, tmp, tensorboard=True)
        start = time.perf_counter()
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append({"seconds": round(time.perf_counter() - start, 1), "rss_mib": round(rss_mib(), 2),
                                "env_steps": runner.result.env_steps, "replay": len(runner.replay),
                                "replay_episodes": runner.replay.num_episodes})
                if not args.json:
                    print(samples[-1], flush=True)
                stop.wait(args.interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        runner.train(max_minutes=args.minutes)
        stop.set()
        thread.join()
        runner.close()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "seed": args.seed, "minutes": args.minutes,
        "capacity": args.capacity, "env_steps": runner.result.env_steps, "train_steps": runner.result.train_steps,
        **growth_after_full(samples, args.capacity), "samples": samples,
    }
    print(json.dumps(result) if args.json else json.dumps({k: v for k, v in result.items() if k != "samples"},
                                                          indent=1))


if __name__ == "__main__":
    main()
