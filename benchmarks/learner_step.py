"""Learner update speed: one `Learner.train_step` on the cartpole preset's
network and batch size (128, unroll 5), one torch thread, with AdamW's fused
kernel (what the learner uses where torch has it) and with the foreach kernel
it used before, alternated in the same run; plus the share of an update spent
in the optimizer and LR scheduler.

    python benchmarks/learner_step.py [--updates 300] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from unittest import mock

import numpy as np
import torch

from zeroplan.config import load_config
from zeroplan.muzero import learner as learner_module
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.replay import Batch
from zeroplan.nets.build import build_net
from zeroplan.runners.local import limit_threads


def batches(config, count: int, rng: np.random.Generator) -> list[Batch]:
    b, k, a = config.replay.batch_size, config.replay.unroll_steps, 2
    out = []
    for _ in range(count):
        policy = rng.random((b, k + 1, a)).astype(np.float32)
        policy /= policy.sum(-1, keepdims=True)
        ones = np.ones((b, k + 1), np.float32)
        out.append(Batch(obs=rng.normal(size=(b, 4)).astype(np.float32), actions=rng.integers(0, a, (b, k)),
                         target_values=(rng.random((b, k + 1)) * 50).astype(np.float32), target_rewards=ones,
                         target_policies=policy, value_mask=ones, reward_mask=ones, policy_mask=ones,
                         weights=np.ones(b, np.float32), slots=np.arange(b), episode_ids=np.arange(b),
                         starts=np.zeros(b, np.int64)))
    return out


def make_learner(config, fused: bool) -> Learner:
    torch.manual_seed(0)
    net = build_net(config, (4,), 2)
    if fused:
        return Learner(net, config.train, config.net.support_size, config.replay.unroll_steps)
    foreach = lambda params, cfg: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay,  # noqa: E731
                                                    foreach=True)
    with mock.patch.object(learner_module, "_adamw", foreach):
        return Learner(net, config.train, config.net.support_size, config.replay.unroll_steps)


def time_updates(lrn: Learner, data: list[Batch], updates: int) -> tuple[float, float]:
    """Seconds per update, and per optimizer + scheduler step (timed on their own)."""
    for b in data[:20]:
        lrn.train_step(b)
    start = time.perf_counter()
    for i in range(updates):
        lrn.train_step(data[i % len(data)])
    per_update = (time.perf_counter() - start) / updates
    opt = 0.0
    for i in range(updates):
        loss, _, _ = lrn.losses(data[i % len(data)])
        lrn.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t = time.perf_counter()
        lrn.optimizer.step()
        lrn.scheduler.step()
        opt += time.perf_counter() - t
    return per_update, opt / updates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    limit_threads(1)
    config = load_config("cartpole")
    data = batches(config, 20, np.random.default_rng(0))
    kinds = {"fused": make_learner(config, True), "foreach": make_learner(config, False)}
    assert kinds["fused"].optimizer.param_groups[0].get("fused"), "this torch has no fused AdamW on CPU"
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    for _ in range(args.repeats):  # alternated, so drift on a shared machine hits both
        for name, lrn in kinds.items():
            rows[name].append(time_updates(lrn, data, args.updates))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "updates": args.updates}
    for name, vals in rows.items():
        out[name] = {"ms_per_update": round(statistics.median(v[0] for v in vals) * 1e3, 2),
                     "ms_optimizer_and_scheduler": round(statistics.median(v[1] for v in vals) * 1e3, 3)}
    out["foreach_over_fused"] = round(out["foreach"]["ms_per_update"] / out["fused"]["ms_per_update"], 3)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
