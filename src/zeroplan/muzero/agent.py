"""MuZero: the Python API, Stable-Baselines3 in feel.

    agent = zeroplan.MuZero("CartPole-v1")          # preset chosen by env id
    agent.learn(total_env_steps=20_000, progress_bar=True)
    action = agent.predict(obs)                      # deterministic by default
    agent.save("runs/cartpole/agent"); agent = zeroplan.load("runs/cartpole/agent")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zeroplan.config import Config, build_config, load_config, merge
from zeroplan.io.checkpoint import Checkpoint, save_checkpoint
from zeroplan.muzero.selfplay import plan
from zeroplan.runners.local import LocalRunner, TrainResult, load_weights, build_net


class MuZero:
    def __init__(self, env: str = "CartPole-v1", *, config: Config | None = None, run_dir: str | Path | None = None,
                 seed: int | None = None, overrides: dict[str, Any] | None = None, set: list[str] | None = None,
                 tensorboard: bool = True):
        if config is None:
            config = load_config(env, overrides=overrides, dotted=set)
        if seed is not None:
            config = build_config({**config.model_dump(), "run": {**config.run.model_dump(), "seed": seed}})
        self._attach(LocalRunner(config, run_dir, tensorboard=tensorboard))

    def _attach(self, runner: LocalRunner) -> None:
        self.config = runner.config
        self.runner = runner
        self.rng = np.random.default_rng(self.config.run.seed + 2)

    @classmethod
    def resume(cls, run_dir: str | Path, run_overrides: dict[str, Any] | None = None,
               tensorboard: bool = True) -> MuZero:
        """Continue a run from its last checkpoint; only `run.*` settings may
        change, e.g. `{"run": {"max_env_steps": 50_000}}` (see LocalRunner.resume)."""
        agent = cls.__new__(cls)
        agent._attach(LocalRunner.resume(run_dir, run_overrides, tensorboard=tensorboard))
        return agent

    @property
    def net(self):
        return self.runner.net

    @property
    def spec(self):
        return self.runner.spec

    def learn(self, total_env_steps: int | None = None, max_minutes: float | None = None,
              progress_bar: bool = False, backend: str = "local", num_workers: int = 2,
              address: str | None = None) -> TrainResult:
        """Train; `backend="ray"` runs the same components as Ray actors
        (`num_workers` self-play actors; `address` of a cluster, or a local Ray)."""
        runner = self.runner
        if backend == "ray":
            from zeroplan.runners.ray import RayRunner

            runner = RayRunner(self.runner, num_workers=num_workers, address=address)
        elif backend != "local":
            raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
        try:
            if not progress_bar:
                return runner.train(total_env_steps, max_minutes)
            from zeroplan.io.progress import TrainProgress

            total = total_env_steps or self.config.run.max_env_steps
            with TrainProgress(total) as bar:
                return runner.train(total_env_steps, max_minutes, progress=bar.update)
        finally:
            if runner is not self.runner:
                runner.shutdown()

    def predict(self, obs: np.ndarray, legal_mask: np.ndarray | None = None, to_play: int | np.ndarray = 0,
                deterministic: bool = True) -> int | np.ndarray:
        """An action for one observation (or a batch [B, ...]) by searching with the learned model."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.shape == tuple(self.net_obs_shape())
        batch = obs[None] if single else obs
        n = len(batch)
        legal = np.ones((n, self.spec.num_actions), bool) if legal_mask is None else \
            np.asarray(legal_mask, bool).reshape(n, -1)
        players = np.broadcast_to(np.asarray(to_play), (n,))
        out = plan(self.runner.model, batch, legal, players, self.config, self.rng, self.spec.num_players,
                   0.0 if deterministic else 1.0, explore=not deterministic)
        return int(out.actions[0]) if single else out.actions

    def net_obs_shape(self) -> tuple[int, ...]:
        shape = self.spec.obs_shape
        return (shape[0] * self.config.replay.stack_frames,) + tuple(shape[1:])

    def evaluate(self, episodes: int = 20) -> dict[str, float]:
        from zeroplan.eval.evaluate import evaluate_returns

        returns = evaluate_returns(self.runner.model, self.config, self.runner.env_factory, episodes,
                                   seed=self.config.run.seed + 123)
        return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, self.net.state_dict(), self.runner.checkpoint_meta())

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None,
             search: dict[str, Any] | None = None) -> MuZero:
        """A saved agent; `search` changes settings of its search (e.g.
        `{"num_simulations": 64}`), which the weights do not depend on."""
        ckpt = Checkpoint(path)
        if ckpt.meta.get("algo") != "muzero":
            raise ckpt.error("meta.json", f"not a MuZero checkpoint (algo={ckpt.meta.get('algo')!r})")
        try:
            config = build_config(ckpt.meta["config"])
        except (KeyError, ValueError) as err:
            raise ckpt.error("meta.json", f"config unusable ({err})") from None
        if search:
            config = build_config(merge(config.model_dump(mode="json"), {"search": search}))
        agent = cls(config=config, run_dir=run_dir, tensorboard=False)
        load_weights(agent.net, ckpt.tensors(), ckpt)
        agent.net.eval()
        agent.runner.result.env_steps = ckpt.manifest["env_steps"]
        agent.runner.result.train_steps = ckpt.manifest["train_steps"]
        return agent


def load(path: str | Path, search: dict[str, Any] | None = None) -> MuZero:
    """Load a saved agent (a checkpoint directory, or a run directory: its `best`
    checkpoint), optionally with other search settings (MuZero.load)."""
    path = Path(path)
    if (path / "checkpoints").is_dir():
        ckpts = path / "checkpoints"
        path = ckpts / ("best" if (ckpts / "best").is_dir() or (ckpts / ".best.old").is_dir() else "last")
    return MuZero.load(path, search=search)


__all__ = ["MuZero", "load", "build_net"]
