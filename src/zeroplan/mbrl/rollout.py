"""Running a controller in real environments: one training episode at a time,
or several evaluation episodes in lockstep so that their plans are computed
in one batched search per step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from zeroplan.envs.continuous import ContinuousEnv
from zeroplan.io.signals import Stop, check_stop
from zeroplan.mbrl.planners import MPC


@dataclass
class Episode:
    obs: np.ndarray  # [T+1, d]
    actions: np.ndarray  # [T, a]
    rewards: np.ndarray  # [T]
    plan_seconds: float = 0.0  # time spent planning (0 for random actions)

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)


def run_episode(env: ContinuousEnv, seed: int, act: Callable[[np.ndarray], np.ndarray]) -> Episode:
    """Play one episode; `act(obs [d]) -> action [a]`."""
    obs = [env.reset(seed=seed)]
    actions, rewards, plan_seconds = [], [], 0.0
    while True:
        t0 = time.perf_counter()
        a = np.asarray(act(obs[-1]), np.float32).ravel()
        plan_seconds += time.perf_counter() - t0
        a = np.clip(a, env.low, env.high)
        ob, r, terminated, truncated = env.step(a)
        obs.append(ob)
        actions.append(a)
        rewards.append(r)
        if terminated or truncated:
            return Episode(np.stack(obs), np.stack(actions), np.asarray(rewards, np.float32), plan_seconds)


def evaluate_lockstep(env_factory: Callable[[], ContinuousEnv], mpc: MPC, episodes: int, seed: int,
                      stop: Stop | None = None) -> list[float]:
    """One episode per environment, all stepped together; an environment that
    finishes leaves the batch (its row of the warm-start plan with it).
    `stop()`, asked before every step, ends it early with EvaluationStopped."""
    envs = [env_factory() for _ in range(episodes)]
    obs = [env.reset(seed=seed + i) for i, env in enumerate(envs)]
    returns = [0.0] * episodes
    active = list(range(episodes))
    mpc.reset()
    while active:
        check_stop(stop)
        actions = mpc.act(np.stack([obs[i] for i in active]))
        still = []
        for row, i in enumerate(active):
            obs[i], r, terminated, truncated = envs[i].step(actions[row])
            returns[i] += r
            if not (terminated or truncated):
                still.append(row)
        if len(still) < len(active):
            mpc.keep_rows(still)
        active = [active[row] for row in still]
    for env in envs:
        env.close()
    return returns
