"""Replay sampling speed: the buffer's vectorised `batch_for` against the
per-sample reference (tests/reference/replay_targets.py, one loop step per
sampled start and unrolled step, as the buffer itself did before 2026-11-29)
on the same buffer and the same sampled starts.

    python benchmarks/replay_sampling.py [--json]

The buffer holds 10,000 transitions of CartPole-shaped episodes (4-float
observations, 2 actions, lengths 10-300) with the cartpole preset's replay
settings (batch 128, unroll 5, td 20); "fresh" rows add bootstrap values from
the preset's network (a target network's role), computed in one call for the
whole batch by the buffer and one call per sample by the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.reference
from tests.reference.replay_targets import reference_targets  # noqa: E402
from zeroplan.config import load_config  # noqa: E402
from zeroplan.muzero.episode import Episode  # noqa: E402
from zeroplan.muzero.reanalyze import network_values  # noqa: E402
from zeroplan.muzero.replay import Replay  # noqa: E402
from zeroplan.nets.build import build_net  # noqa: E402
from zeroplan.runners.local import limit_threads  # noqa: E402


def fill(replay: Replay, rng: np.random.Generator, transitions: int) -> None:
    while len(replay) < transitions:
        t = int(rng.integers(10, 300))
        replay.add(Episode(obs=rng.normal(size=(t + 1, 4)).astype(np.float32), actions=rng.integers(0, 2, t),
                           rewards=np.ones(t, np.float32), to_play=np.zeros(t + 1, np.int8),
                           legal_masks=np.ones((t + 1, 2), bool), root_values=rng.random(t + 1).astype(np.float32),
                           policy_targets=np.full((t + 1, 2), 0.5, np.float32), terminated=bool(rng.random() < 0.8)))


def timed(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    limit_threads(1)
    config = load_config("cartpole")
    rc = config.replay
    rng = np.random.default_rng(0)
    replay = Replay(rc, 2, config.search.discount)
    fill(replay, rng, 10_000)
    net = build_net(config, (4,), 2).eval()

    def value_fn(obs, legal):
        return network_values(net, obs, config.net.support_size)

    slots, weights = replay.sample_slots(rc.batch_size, rng)
    episodes = {eid: replay.episode(eid) for eid in np.unique(replay._episode_of[slots])}

    def reference(fresh: bool):
        return [reference_targets(episodes[int(replay._episode_of[s])], int(replay._start_of[s]), rc.unroll_steps,
                                  config.search.discount, rc.td_steps, rc.stack_frames, 2,
                                  value_fn if fresh else None) for s in slots]

    out = {"batch_size": rc.batch_size, "unroll_steps": rc.unroll_steps, "transitions": len(replay)}
    for fresh in (False, True):
        name = "fresh" if fresh else "stored"
        ours = timed(lambda: replay.batch_for(slots, weights, rng, value_fn if fresh else None), args.repeats)
        ref = timed(lambda: reference(fresh), max(3, args.repeats // 20))
        out[name] = {"batch_for_ms": round(ours, 3), "reference_ms": round(ref, 2), "speedup": round(ref / ours, 1)}
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
