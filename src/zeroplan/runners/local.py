"""The embedded runner: one process, self-play and learning interleaved at a
fixed replay ratio (training steps per environment step), periodic evaluation
without exploration noise. Deterministic for a given seed."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from zeroplan.config import Config
from zeroplan.envs import make_env
from zeroplan.envs.experts import make_opponent
from zeroplan.eval.evaluate import evaluate_returns, evaluate_vs
from zeroplan.io.checkpoint import save_checkpoint
from zeroplan.io.logging import MetricsLogger
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.reanalyze import Reanalyze
from zeroplan.muzero.replay import Replay
from zeroplan.muzero.selfplay import SelfPlay
from zeroplan.nets.muzero_net import MuZeroNet, SearchModel


def build_net(config: Config, obs_shape: tuple[int, ...], num_actions: int) -> MuZeroNet:
    n = config.net
    stacked = (obs_shape[0] * config.replay.stack_frames,) + tuple(obs_shape[1:])
    return MuZeroNet(stacked, num_actions, kind=n.kind, support_size=n.support_size, latent_dim=n.latent_dim,
                     hidden=tuple(n.hidden), channels=n.channels, blocks=n.blocks)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    env_steps: int = 0
    train_steps: int = 0
    seconds: float = 0.0
    best_eval: float = -float("inf")
    eval_seconds: float = 0.0
    evals: list[dict] = field(default_factory=list)
    solved_at: dict | None = None


class LocalRunner:
    def __init__(self, config: Config, run_dir: str | Path | None, net: MuZeroNet | None = None,
                 env_factory: Callable[[], object] | None = None, tensorboard: bool = True):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        torch.set_num_threads(config.run.torch_threads)
        seed_everything(config.run.seed)
        self.env_factory = env_factory or (lambda: make_env(config.env))
        probe = self.env_factory()
        self.spec = probe.spec
        self.net = net if net is not None else build_net(config, self.spec.obs_shape, self.spec.num_actions)
        self.net.eval()
        self.model = SearchModel(self.net)
        self.replay = Replay(config.replay, self.spec.num_actions, config.search.discount)
        self.learner = Learner(self.net, config.train, config.net.support_size, config.replay.unroll_steps)
        self.selfplay = SelfPlay(config, self.env_factory, seed=config.run.seed)
        self.reanalyze = Reanalyze(config, self.spec.num_players, seed=config.run.seed + 3) \
            if config.train.reanalyse_fraction > 0 else None
        self.rng = np.random.default_rng(config.run.seed + 1)
        self.logger = MetricsLogger(self.run_dir, tensorboard) if self.run_dir is not None else None
        if self.run_dir is not None:
            (self.run_dir / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=1))
        self.result = TrainResult()
        # Training keeps `replay_ratio` updates per env step counted from when
        # the buffer first held `min_replay_size` transitions.
        self._steps_at_first_training: float | None = None

    def checkpoint_meta(self) -> dict:
        spec = self.spec
        return {"algo": "muzero", "config": self.config.model_dump(mode="json"),
                "spec": {"obs_shape": list(spec.obs_shape), "num_actions": spec.num_actions,
                         "num_players": spec.num_players, "name": spec.name},
                "env_steps": self.result.env_steps, "train_steps": self.result.train_steps,
                "best_eval": self.result.best_eval}

    def save(self, name: str) -> Path | None:
        if self.run_dir is None:
            return None
        return save_checkpoint(self.run_dir / "checkpoints" / name, self.net.state_dict(), self.checkpoint_meta())

    def evaluate(self, episodes: int | None = None) -> float:
        """Single-player: the mean return. Two-player: the mean score (win 1,
        draw 0, loss -1) against the configured opponent, playing each side."""
        episodes = episodes or self.config.run.eval_episodes
        seed = 10_000 + self.result.env_steps
        if self.spec.num_players == 1:
            return float(np.mean(evaluate_returns(self.model, self.config, self.env_factory, episodes, seed)))
        opponent = make_opponent(self.config.run.eval_opponent, self.config.env.id)
        result = evaluate_vs(self.model, self.config, self.env_factory, opponent, episodes, seed)
        games = sum(sum(side.values()) for side in result.values())
        return sum(side["wins"] - side["losses"] for side in result.values()) / games

    def train(self, max_env_steps: int | None = None, max_minutes: float | None = None,
              progress: Callable[[dict], None] | None = None) -> TrainResult:
        cfg = self.config
        max_env_steps = max_env_steps or cfg.run.max_env_steps
        max_minutes = max_minutes if max_minutes is not None else cfg.run.max_minutes
        res = self.result
        start = time.perf_counter() - res.seconds
        next_eval = res.env_steps + cfg.run.eval_interval
        next_log = res.env_steps + cfg.run.log_interval
        value_fn = self.learner.target_values if self.learner.target_net is not None else None
        sims_time, sims_done, train_metrics = 0.0, 0, {}
        last_log_time, last_log_steps = time.perf_counter(), res.env_steps
        while res.env_steps < max_env_steps:
            elapsed = time.perf_counter() - start
            if max_minutes is not None and elapsed > max_minutes * 60:
                break
            t0 = time.perf_counter()
            episodes = self.selfplay.step(self.model, cfg.train.temperature_at(res.env_steps))
            sims_time += time.perf_counter() - t0
            sims_done += len(self.selfplay.envs) * cfg.search.num_simulations
            res.env_steps += len(self.selfplay.envs)
            for ep in episodes:
                self.replay.add(ep)
            if len(self.replay) >= cfg.train.min_replay_size:
                if self._steps_at_first_training is None:
                    self._steps_at_first_training = res.env_steps - res.train_steps / cfg.train.replay_ratio
                while res.train_steps < cfg.train.replay_ratio * (res.env_steps - self._steps_at_first_training):
                    batch = self.replay.sample(cfg.replay.batch_size, self.rng, value_fn)
                    if self.reanalyze is not None:
                        self.reanalyze.refresh(batch, self.replay, self.model)
                    train_metrics, priorities = self.learner.train_step(batch)
                    if priorities is not None:
                        self.replay.update_priorities(batch.slots, priorities)
                    res.train_steps += 1
            if res.env_steps >= next_log:
                now = time.perf_counter()
                scalars = self._scalars(train_metrics, sims_done / max(sims_time, 1e-9),
                                        (res.env_steps - last_log_steps) / max(now - last_log_time, 1e-9))
                last_log_time, last_log_steps = now, res.env_steps
                sims_time, sims_done = 0.0, 0
                if self.logger:
                    self.logger.log(res.env_steps, scalars)
                if progress:
                    progress({"env_steps": res.env_steps, **scalars})
                next_log += cfg.run.log_interval
            if res.env_steps >= next_eval:
                next_eval += cfg.run.eval_interval
                if self._evaluate_and_keep_best(time.perf_counter() - start, progress):
                    break
        res.seconds = time.perf_counter() - start
        self.save("last")
        return res

    def _scalars(self, train: dict, sims_per_s: float, fps: float) -> dict[str, float]:
        recent = self.selfplay.episode_returns[-20:]
        out = {"rollout/ep_rew_mean": float(np.mean(recent)) if recent else float("nan"),
               "time/fps": fps, "search/sims_per_s": sims_per_s,
               "replay/priority_mean": self.replay.priority_mean(), "replay/transitions": float(len(self.replay)),
               "train/steps": float(self.result.train_steps)}
        for k in ("loss", "value_loss", "policy_loss", "reward_loss", "lr", "grad_norm", "skipped_updates"):
            if k in train:
                out[f"train/{k}"] = float(train[k])
        return out

    def _evaluate_and_keep_best(self, elapsed: float, progress) -> bool:
        """Evaluate; keep the best checkpoint; True when the target return is reached."""
        res = self.result
        earlier_evals = res.eval_seconds  # `elapsed` was taken before this evaluation
        t0 = time.perf_counter()
        mean = self.evaluate()
        res.eval_seconds += time.perf_counter() - t0
        record = {"env_steps": res.env_steps, "train_steps": res.train_steps, "seconds": elapsed,
                  "seconds_excluding_eval": elapsed - earlier_evals, "mean_return": mean}
        res.evals.append(record)
        if self.logger:
            self.logger.log(res.env_steps, {"eval/mean_reward": mean})
        if progress:
            progress({"env_steps": res.env_steps, "eval/mean_reward": mean})
        if mean > res.best_eval:
            res.best_eval = mean
            self.save("best")
        target = self.config.run.stop_at_return
        if target is not None and mean >= target:
            res.solved_at = record
            return True
        return False

    def close(self) -> None:
        if self.logger:
            self.logger.close()
