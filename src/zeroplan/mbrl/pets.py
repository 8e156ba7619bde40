"""PETS: the Python API, shaped like MuZero's.

    agent = zeroplan.PETS("Pendulum-v1")        # preset chosen by env id
    agent.learn(episodes=15)
    action = agent.predict(obs)
    agent.save("runs/pendulum/agent"); agent = zeroplan.PETS.load("runs/pendulum/agent")

The loop (Chua et al. 2018, algorithm 1): a few episodes of random actions,
then repeat { fit the ensemble on every transition so far; play one episode
re-planning by MPC at every step }. The model is refitted after the last
episode too, so evaluations and checkpoints always use all the data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zeroplan.config import ConfigError, build_config, load_config
from zeroplan.envs.continuous import make_continuous_env
from zeroplan.io.checkpoint import CheckpointError, find_checkpoint, load_checkpoint, save_checkpoint
from zeroplan.io.logging import MetricsLogger
from zeroplan.mbrl.config import PetsConfig
from zeroplan.mbrl.data import Transitions
from zeroplan.mbrl.ensemble import FitReport, ProbabilisticEnsemble, fit_ensemble
from zeroplan.mbrl.planners import MPC, TrajectorySampler, make_planner
from zeroplan.mbrl.rewards import known_reward, known_termination
from zeroplan.mbrl.rollout import evaluate_lockstep, run_episode
from zeroplan.runners.shell import LoopShell, RunResult, refuse_existing_run


@dataclass
class PetsResult(RunResult):
    episodes: int = 0
    episode_returns: list[float] = field(default_factory=list)
    plan_ms_per_step: list[float] = field(default_factory=list)  # per episode, 0 for random ones


class PETS:
    def __init__(self, env: str = "Pendulum-v1", *, config: PetsConfig | None = None,
                 run_dir: str | Path | None = None, seed: int | None = None,
                 overrides: dict[str, Any] | None = None, set: list[str] | None = None, tensorboard: bool = True):
        if config is None:
            config = load_config(env, overrides=overrides, dotted=set, model=PetsConfig, family="pets")
        if seed is not None:
            data = config.model_dump()
            data["run"]["seed"] = seed
            config = build_config(data, PetsConfig)
        self.config = config
        refuse_existing_run(Path(run_dir) if run_dir is not None else None)
        torch.set_num_threads(config.run.torch_threads)
        self.env_factory: Callable = lambda: make_continuous_env(config.env)
        self.env = self.env_factory()  # a discrete-action env fails here, pointing to MuZero
        self.spec = self.env.spec
        d, a, m = self.spec.obs_dim, self.spec.action_dim, config.model
        self.reward_fn = known_reward(config.env.id) if m.reward == "known" else None
        self.done_fn = known_termination(config.env.id) if m.termination == "known" else None
        seed = config.run.seed
        torch.manual_seed(seed)
        self.ensemble = ProbabilisticEnsemble(d + a, d + (self.reward_fn is None), m.ensemble_size, m.hidden,
                                              m.layers).eval()
        self.data = Transitions(d, a)
        self.rng = np.random.default_rng(seed)
        self._fit_gen = torch.Generator().manual_seed(seed + 1)
        self._mpc = self._make_mpc(seed + 2)
        self._train_mpc_gen = self._mpc_gen
        self.result = PetsResult()
        self.notes: list[str] = []  # the agent surface's: settings settled for the config (none for PETS)
        self.last_fit: FitReport | None = None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.logger = MetricsLogger(self.run_dir, tensorboard) if self.run_dir is not None else None
        self.shell = LoopShell(self.result, self.run_dir, self.logger, lambda: self.save_to_run("best"),
                               config.run.stop_at_return)
        if self.run_dir is not None:
            (self.run_dir / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=1))

    @classmethod
    def config_for(cls, env: str, overrides: dict | None = None, dotted: list[str] | None = None
                   ) -> tuple[PetsConfig, list[str]]:
        """The validated config for `env` (its PETS preset, if any), and nothing to note."""
        return load_config(env, overrides=overrides, dotted=dotted, model=PetsConfig, family="pets"), []

    def summary(self, result: PetsResult) -> dict:
        """What `zeroplan train` prints when a run ends."""
        return {"episodes": result.episodes, "env_steps": result.env_steps, "seconds": round(result.seconds, 1),
                "best_eval": result.best_eval if result.evals else None,
                "episode_returns": [round(r, 1) for r in result.episode_returns]}

    def _make_mpc(self, seed: int) -> MPC:
        p = self.config.planner
        gen = torch.Generator().manual_seed(seed)
        self._mpc_gen = gen
        cost = None
        if p.state_cost is not None:
            if len(p.state_cost) != self.spec.obs_dim:
                raise ConfigError(f"planner.state_cost has {len(p.state_cost)} weights but {self.config.env.id} "
                                  f"observations have {self.spec.obs_dim} dimensions; give one weight per dimension")
            cost = torch.tensor(p.state_cost, dtype=torch.float32)
        sampler = TrajectorySampler(self.ensemble, self.spec.obs_dim, self.reward_fn, p.propagation, p.particles, gen,
                                    self.done_fn, cost)
        planner = make_planner(p, np.array(self.spec.action_low), np.array(self.spec.action_high), gen)
        return MPC(planner, sampler, p.warm_start)

    # -- training ---------------------------------------------------------

    def learn(self, episodes: int | None = None, max_minutes: float | None = None,
              progress_bar: bool = False, callback: Callable[[dict], None] | None = None) -> PetsResult:
        """Collect episodes until `episodes` in all (default run.max_episodes)
        have been played, refitting the model after each one. `callback` gets
        every logged row (env_steps and scalars; evaluations carry
        eval/mean_reward); an exception it raises ends the call."""
        from zeroplan.io.progress import progress_and_callback

        total = episodes or self.config.run.max_episodes
        with progress_and_callback(total * (self.spec.max_episode_steps or 1000), progress_bar, callback) as progress:
            return self._learn(total, max_minutes, progress)

    def _learn(self, total: int, max_minutes: float | None, progress) -> PetsResult:
        max_minutes = max_minutes if max_minutes is not None else self.config.run.max_minutes
        return self.shell.session(lambda: self._episodes(total, progress), lambda: self.save_to_run("last"),
                                  max_minutes, save_first=False)

    def _episodes(self, total: int, progress) -> None:
        """One episode at a time; `checkpoints/last` after each, so a killed run
        resumes from its last whole episode (`PETS.resume`)."""
        cfg, res, shell = self.config, self.result, self.shell
        while res.episodes < total and not shell.should_stop():
            random = res.episodes < cfg.train.random_episodes
            if random:
                ep = run_episode(self.env, self._episode_seed(res.episodes), lambda o: self.env.sample_action(self.rng))
            else:
                self._mpc.reset()
                ep = run_episode(self.env, self._episode_seed(res.episodes), lambda o: self._mpc.act(o[None])[0])
            self.data.add_episode(ep.obs, ep.actions, ep.rewards)
            res.episodes += 1
            res.env_steps += len(ep)
            res.episode_returns.append(ep.ret)
            res.plan_ms_per_step.append(1000 * ep.plan_seconds / len(ep) if not random else 0.0)
            scalars = {"rollout/ep_rew_mean": float(np.mean(res.episode_returns[-5:])), "rollout/ep_return": ep.ret,
                       "time/plan_ms_per_step": res.plan_ms_per_step[-1]}
            if res.episodes >= cfg.train.random_episodes:
                fit = self.fit_model()
                scalars.update({"model/train_nll": fit.train_nll, "model/val_mse": fit.val_mse,
                                "model/epochs": float(fit.epochs), "time/fit_s": fit.seconds,
                                "model/skipped_updates": float(fit.skipped_updates)})
            shell.log(scalars, progress)
            stop = False
            if res.episodes % cfg.run.eval_interval == 0 or res.episodes == total:
                stop = shell.evaluate(self._eval_scalars, {"episodes": res.episodes, "env_steps": res.env_steps},
                                      progress)
            shell.stamp()
            self.save_to_run("last")
            if stop:
                break

    def _eval_scalars(self) -> dict[str, float]:
        ev = self.evaluate(stop=self.shell.should_stop)
        return {"eval/mean_reward": ev["mean_return"], "eval/std_reward": ev["std_return"]}

    def fit_model(self) -> FitReport:
        inputs, targets = self.data.model_io(learned_reward=self.reward_fn is None)
        self.last_fit = fit_ensemble(self.ensemble, inputs, targets, self.config.model, self._fit_gen)
        return self.last_fit

    def _episode_seed(self, index: int) -> int:
        return self.config.run.seed * 100_003 + index

    # -- acting -----------------------------------------------------------

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """An action for one observation [d] (or a batch [B, d]) by MPC with the
        learned model. The previous plan warm-starts the next call: call
        `reset()` when a new episode starts. `deterministic=False` draws the
        action from CEM's final Gaussian instead of taking its mean."""
        obs = np.asarray(obs, np.float32)
        single = obs.ndim == 1
        actions = self._mpc.act(obs[None] if single else obs, explore=not deterministic)
        return actions[0] if single else actions

    def reset(self) -> None:
        """Forget the warm-start plan (a new episode begins)."""
        self._mpc.reset()

    def evaluate(self, episodes: int | None = None, seed: int | None = None, stop=None) -> dict[str, float]:
        """Mean return of MPC with the current model over `episodes` fresh
        episodes (fixed seeds, by default the run's, so successive evaluations are comparable)."""
        episodes = episodes or self.config.run.eval_episodes
        seed = self.config.run.seed if seed is None else seed
        mpc = self._make_mpc(seed + 7)
        returns = evaluate_lockstep(self.env_factory, mpc, episodes, seed=10_000_019 + seed * 1_009, stop=stop)
        return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}

    # -- persistence --------------------------------------------------------

    def checkpoint_meta(self) -> dict:
        res, s = self.result, self.spec
        return {"algo": "pets", "config": self.config.model_dump(mode="json"), "episodes": res.episodes,
                "env_steps": res.env_steps, "best_eval": res.best_eval if np.isfinite(res.best_eval) else None,
                "episode_returns": res.episode_returns,
                "spec": {"obs_dim": s.obs_dim, "action_low": list(s.action_low), "action_high": list(s.action_high),
                         "name": s.name},
                "resume": {"rng": self.rng.bit_generator.state, "seconds": res.seconds,
                           "eval_seconds": res.eval_seconds, "evals": res.evals,
                           "plan_ms_per_step": res.plan_ms_per_step, "solved_at": res.solved_at}}

    def save(self, path: str | Path) -> Path:
        """A checkpoint directory: ensemble weights and every transition in
        weights.safetensors, config and counters in meta.json."""
        tensors = {"ensemble." + k: v for k, v in self.ensemble.state_dict().items()}
        tensors.update(self.data.tensors())
        tensors["rng.fit"] = self._fit_gen.get_state()
        tensors["rng.mpc"] = self._train_mpc_gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        return save_checkpoint(path, tensors, self.checkpoint_meta())

    def save_to_run(self, name: str) -> Path | None:
        if self.run_dir is None:
            return None
        return self.save(self.run_dir / "checkpoints" / name)

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None) -> PETS:
        """Load a checkpoint directory, or a run directory (its best checkpoint,
        else its last)."""
        path = find_checkpoint(path)
        tensors, meta = load_checkpoint(path)
        agent = cls._from_checkpoint(path, tensors, meta)
        if run_dir is not None:
            agent.run_dir = agent.shell.run_dir = Path(run_dir)
        return agent

    @classmethod
    def _from_checkpoint(cls, path: Path, tensors: dict, meta: dict) -> PETS:
        if meta.get("algo") != "pets":
            hint = " (a MuZero checkpoint: load it with zeroplan.load)" if meta.get("algo") == "muzero" else ""
            raise CheckpointError(f"{path}: not a PETS checkpoint (algo={meta.get('algo')!r}){hint}")
        try:
            config = build_config(meta["config"], PetsConfig)
        except (KeyError, ValueError) as err:
            raise CheckpointError(f"{Path(path) / 'meta.json'}: config unusable ({err})") from None
        agent = cls(config=config, run_dir=None, tensorboard=False)
        weights = {k[len("ensemble."):]: v for k, v in tensors.items() if k.startswith("ensemble.")}
        expected = agent.ensemble.state_dict()
        for k in expected:
            if k not in weights or weights[k].shape != expected[k].shape:
                got = tuple(weights[k].shape) if k in weights else "nothing"
                raise CheckpointError(f"{Path(path) / 'weights.safetensors'}: tensor ensemble.{k}: got {got}, "
                                      f"the config's ensemble expects {tuple(expected[k].shape)}")
        with torch.no_grad():
            agent.ensemble.load_state_dict(weights)
        try:
            agent.data = Transitions.from_tensors(tensors, agent.spec.obs_dim, agent.spec.action_dim)
        except ValueError as err:
            raise CheckpointError(f"{Path(path) / 'weights.safetensors'}: {err}") from None
        res = agent.result
        res.episodes, res.env_steps = int(meta.get("episodes", 0)), int(meta.get("env_steps", 0))
        res.episode_returns = [float(r) for r in meta.get("episode_returns", [])]
        res.best_eval = float(meta["best_eval"]) if meta.get("best_eval") is not None else -float("inf")
        return agent

    @classmethod
    def resume(cls, run_dir: str | Path, run_overrides: dict[str, Any] | None = None,
               tensorboard: bool = True) -> PETS:
        """Continue a run from `checkpoints/last` (written after every whole episode):
        the model, all transitions, counters and random generators. Only `run.*`
        settings may change. Nothing in `run_dir` is written until it has loaded."""
        from zeroplan.config import ConfigError, merge
        from zeroplan.io.checkpoint import Checkpoint

        run_dir = Path(run_dir)
        ckpt = Checkpoint(run_dir / "checkpoints" / "last")
        meta = ckpt.meta
        if meta.get("algo") != "pets" or "resume" not in meta:
            raise ckpt.error("meta.json", "not a resumable PETS run checkpoint")
        if run_overrides:
            if set(run_overrides) - {"run"}:
                raise ConfigError("only run.* settings can change when resuming")
            meta = {**meta, "config": merge(meta["config"], run_overrides)}
        tensors = ckpt.tensors()
        agent = cls._from_checkpoint(ckpt.path, tensors, meta)
        try:
            state = meta["resume"]
            agent.rng.bit_generator.state = state["rng"]
            agent._fit_gen.set_state(tensors["rng.fit"])
            agent._train_mpc_gen.set_state(tensors["rng.mpc"])
            torch.set_rng_state(tensors["rng.torch"])
            res = agent.result
            res.seconds, res.eval_seconds = float(state["seconds"]), float(state["eval_seconds"])
            res.evals, res.solved_at = list(state["evals"]), state["solved_at"]
            res.plan_ms_per_step = [float(x) for x in state["plan_ms_per_step"]]
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ckpt.error("meta.json", f"inconsistent resume state ({err})") from None
        agent.run_dir = agent.shell.run_dir = run_dir
        agent.logger = agent.shell.logger = MetricsLogger(run_dir, tensorboard, resume_step=agent.result.env_steps)
        return agent

    def close(self) -> None:
        if self.logger:
            self.logger.close()
        self.env.close()


__all__ = ["PETS", "PetsResult"]
