"""Where a Ray run's CPU goes: one CartPole time-to-solve run on the Ray
backend (one self-play actor), then the CPU seconds each process used during
training (from /proc, so Linux only), next to the wall-clock time and the
numbers of env steps and updates.

    python benchmarks/ray_profile.py [--seed 1]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

from zeroplan.config import load_config
from zeroplan.runners.local import LocalRunner
from zeroplan.runners.ray import RayRunner

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[int, tuple[str, float]]:
    out = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:60]
            with open(d + "/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(d[6:])] = (cmd, (int(fields[11]) + int(fields[12])) / TICKS)  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    config = load_config("cartpole", overrides={"run": {"seed": args.seed, "stop_at_return": 475.0,
                                                         "max_minutes": 5}})
    runner = RayRunner(LocalRunner(config, None, tensorboard=False), num_workers=1)
    time.sleep(3)  # let the actors finish starting
    before = cpu_seconds()
    start = time.perf_counter()
    res = runner.train()
    wall = time.perf_counter() - start
    after = cpu_seconds()
    runner.shutdown()
    solved = res.solved_at["env_steps"] if res.solved_at else None
    print(f"wall {wall:.1f} s, env steps {res.env_steps} (solved at {solved}), updates {res.train_steps}")
    used = sorted(((c - before.get(pid, ("", 0.0))[1], cmd) for pid, (cmd, c) in after.items()), reverse=True)
    for seconds, cmd in used:
        if seconds >= 0.2:
            print(f"{seconds:7.1f} s CPU  {seconds / max(res.train_steps, 1) * 1e3:6.2f} ms/update  {cmd}")


if __name__ == "__main__":
    main()
