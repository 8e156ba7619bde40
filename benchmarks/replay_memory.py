"""Replay memory for pixels (issue 24): bytes per stored Atari transition and the
process's resident memory for 100k of them.

    python benchmarks/replay_memory.py [--transitions 100000] [--shape 1,96,96] [--stack 4] [--float32] [--json]

Fills a `Replay` with episodes of Atari-sized grayscale frames (96x96, one
channel; 18 actions; episodes of 1,000 steps) as self-play leaves them:
uint8 frames, one per state, stacked only when a batch is drawn. Prints the
bytes the store's arrays hold per transition, the growth of the process's
resident memory (VmRSS) while filling, and a batch draw's shape as a check.
--float32 stores the same frames as float32 instead (how every observation
was kept before), for the comparison; run it in its own process.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from zeroplan.config import ReplayConfig
from zeroplan.envs.frames import unpack_pixels
from zeroplan.envs.spec import EnvSpec
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.replay import Replay, replay_bytes


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def episode(rng: np.random.Generator, length: int, shape: tuple[int, ...], actions: int, as_float: bool) -> Episode:
    frames = rng.integers(0, 256, (length + 1, *shape), dtype=np.uint8)
    policy = np.full((length + 1, actions), 1.0 / actions, np.float32)
    return Episode(obs=unpack_pixels(frames) if as_float else frames, actions=rng.integers(0, actions, length),
                   rewards=rng.integers(-1, 2, length).astype(np.float32), to_play=np.zeros(length + 1, np.int8),
                   legal_masks=np.ones((length + 1, actions), bool),
                   root_values=rng.normal(size=length + 1).astype(np.float32), policy_targets=policy,
                   terminated=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transitions", type=int, default=100_000)
    ap.add_argument("--shape", default="1,96,96")
    ap.add_argument("--stack", type=int, default=4)
    ap.add_argument("--actions", type=int, default=18)
    ap.add_argument("--episode-length", type=int, default=1000)
    ap.add_argument("--float32", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    shape = tuple(int(d) for d in args.shape.split(","))
    config = ReplayConfig(capacity=args.transitions, batch_size=256, stack_frames=args.stack)
    rng = np.random.default_rng(0)
    before = rss_bytes()
    replay = Replay(config, args.actions, 0.997)
    while replay.total_added < args.transitions:
        replay.add(episode(rng, args.episode_length, shape, args.actions, args.float32))
    grown = rss_bytes() - before
    store = replay._store.arrays
    held = sum(a.nbytes for a in store.values())
    rows = len(store["obs"])
    batch = replay.sample(256, rng)
    spec = EnvSpec(shape, args.actions, 1, pixels=not args.float32)
    out = {"transitions": len(replay), "frame_shape": list(shape), "stack_frames": args.stack,
           "obs_dtype": str(store["obs"].dtype), "store_rows": rows,
           "store_bytes_per_row": round(held / rows, 1),
           "obs_bytes_per_row": int(store["obs"].nbytes // rows),
           "rss_growth_gib": round(grown / 2**30, 3),
           "rss_bytes_per_transition": round(grown / len(replay), 1),
           "estimate_gib": round(replay_bytes(config, spec) / 2**30, 3),
           "batch_obs": list(batch.obs.shape), "batch_dtype": str(batch.obs.dtype)}
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:26} {value}")


if __name__ == "__main__":
    main()
