"""How much self-play acting on stale weights costs the learning: the local
runner on CartPole with self-play's network copied from the learner's only
every L updates (L = 0: the runner as it is, always the newest weights).
Evaluations use the newest weights in every case.

    python benchmarks/policy_lag.py --lags 0,8,32 --seeds 0,1 [--json]

Prints, per lag and seed, the env steps and seconds to the first 20-episode
evaluation with mean >= 475. The Ray runner's task sizes follow from this.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

from zeroplan.config import load_config
from zeroplan.nets.search_model import SearchModel
from zeroplan.runners.local import LocalRunner


def solve(seed: int, lag: int, max_minutes: float) -> dict:
    config = load_config("cartpole", overrides={"run": {"seed": seed, "stop_at_return": 475.0,
                                                         "max_minutes": max_minutes}})
    runner = LocalRunner(config, None, tensorboard=False)
    if lag > 0:
        stale = copy.deepcopy(runner.net)
        stale_model = SearchModel(stale, config.net.inference)
        play, train_once = runner.selfplay.step, runner._train_once
        runner.selfplay.step = lambda model, temperature: play(stale_model, temperature)

        def train_and_copy():
            metrics = train_once()
            if runner.result.train_steps % lag == 0:
                stale.load_state_dict(runner.net.state_dict())
            return metrics

        runner._train_once = train_and_copy
    start = time.perf_counter()
    res = runner.train()
    solved = res.solved_at
    return {"lag": lag, "seed": seed, "solved": solved is not None, "wall_seconds": round(time.perf_counter() - start, 1),
            "env_steps": solved["env_steps"] if solved else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lags", default="0,8,32")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--max-minutes", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = []
    for lag in (int(x) for x in args.lags.split(",")):
        for seed in (int(x) for x in args.seeds.split(",")):
            runs.append(solve(seed, lag, args.max_minutes))
            if not args.json:
                print(json.dumps(runs[-1]), flush=True)
    if args.json:
        print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
