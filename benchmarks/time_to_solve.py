"""Time to solve: env steps and wall-clock seconds until the periodic evaluation
(20 episodes, no exploration) first reaches the target mean return.

    python benchmarks/time_to_solve.py cartpole --seeds 3 --json

Runs zeroplan's MuZero (the preset, evaluated every run.eval_interval env steps)
and, in the same run, Stable-Baselines3 PPO with rl-zoo's CartPole
hyperparameters (8 envs, n_steps 32, batch 256, gae 0.8, gamma 0.98, 20
epochs, linear lr 1e-3 and clip 0.2), evaluated every 1,024 env steps on 20
deterministic episodes. Seconds are reported with and without the time spent
in those evaluations. Needs `pip install stable-baselines3` for the PPO rows
(`--no-ppo` skips them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

TARGETS = {"cartpole": ("CartPole-v1", 475.0)}


def run_muzero(preset: str, seed: int, target: float, max_minutes: float, dotted: list[str]) -> dict:
    from zeroplan.config import load_config
    from zeroplan.runners.local import LocalRunner

    config = load_config(preset, overrides={"run": {"seed": seed, "stop_at_return": target,
                                                     "max_minutes": max_minutes}}, dotted=dotted)
    runner = LocalRunner(config, run_dir=None)
    res = runner.train()
    solved = res.solved_at
    return {"algo": "muzero", "seed": seed, "solved": solved is not None,
            "env_steps": solved["env_steps"] if solved else None,
            "seconds": round(solved["seconds"], 1) if solved else None,
            "seconds_excluding_eval": round(solved["seconds_excluding_eval"], 1) if solved else None,
            "train_steps": solved["train_steps"] if solved else None,
            "best_eval": res.best_eval, "env_steps_run": res.env_steps, "seconds_run": round(res.seconds, 1)}


def run_ppo(env_id: str, seed: int, target: float, max_minutes: float, eval_every: int = 1024) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    env = make_vec_env(env_id, n_envs=8, seed=seed)
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                learning_rate=linear(1e-3), clip_range=linear(0.2), seed=seed, verbose=0)
    state = {"eval_seconds": 0.0, "next": eval_every, "solved": None, "best": -float("inf")}
    start = time.perf_counter()

    class Stop(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps < state["next"]:
                return time.perf_counter() - start < max_minutes * 60
            state["next"] += eval_every
            elapsed = time.perf_counter() - start
            t0 = time.perf_counter()
            mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
            state["best"] = max(state["best"], mean)
            earlier = state["eval_seconds"]
            state["eval_seconds"] += time.perf_counter() - t0
            if mean >= target:
                state["solved"] = {"env_steps": self.num_timesteps, "seconds": elapsed,
                                   "seconds_excluding_eval": elapsed - earlier}
                return False
            return time.perf_counter() - start < max_minutes * 60

    model.learn(total_timesteps=100_000, callback=Stop())
    solved = state["solved"]
    return {"algo": "ppo", "seed": seed, "solved": solved is not None,
            "env_steps": solved["env_steps"] if solved else None,
            "seconds": round(solved["seconds"], 1) if solved else None,
            "seconds_excluding_eval": round(solved["seconds_excluding_eval"], 1) if solved else None,
            "best_eval": state["best"]}


def median(rows: list[dict], key: str):
    vals = [r[key] for r in rows if r["solved"]]
    return statistics.median(vals) if len(vals) == len(rows) and vals else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", choices=sorted(TARGETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-ppo", action="store_true")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="give up on a seed after this long")
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--set", dest="dotted", action="append", default=[],
                        help="MuZero config override on top of the preset, e.g. train.replay_ratio=0.5")
    args = parser.parse_args(argv)
    env_id, target = TARGETS[args.env]
    out: dict = {"env": env_id, "target": target, "muzero": [], "ppo": []}
    out["muzero_overrides"] = args.dotted
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        row = run_muzero(args.env, seed, target, args.max_minutes, args.dotted)
        out["muzero"].append(row)
        if not args.json:
            print(row, file=sys.stderr, flush=True)
        if not args.no_ppo:
            row = run_ppo(env_id, seed, target, args.max_minutes)
            out["ppo"].append(row)
            if not args.json:
                print(row, file=sys.stderr, flush=True)
    summary = {}
    for algo in ("muzero", "ppo"):
        if out[algo]:
            summary[algo] = {k: median(out[algo], k) for k in ("env_steps", "seconds", "seconds_excluding_eval")}
    if "ppo" in summary and all(v is not None for v in summary["muzero"].values()) and \
            all(v is not None for v in summary["ppo"].values()):
        summary["ratio_muzero_over_ppo"] = {k: round(summary["muzero"][k] / summary["ppo"][k], 2)
                                            for k in summary["muzero"]}
    out["median"] = summary
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
