"""The embedded runner: one process, self-play and learning interleaved at a
fixed replay ratio (training steps per environment step), periodic evaluation
without exploration noise. Deterministic for a given seed.

Resumable: `checkpoints/last` holds the whole run state (weights, target
network, optimizer and scheduler, replay with priorities, the self-play
environments' seeds and actions, counters, every RNG). It is written every
`run.checkpoint_seconds`, on SIGINT/SIGTERM, after an environment fault and at
the end; `LocalRunner.resume(run_dir)` carries on from it exactly as the
uninterrupted run would have.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from zeroplan.config import Config, ConfigError, build_config, merge
from zeroplan.envs import make_env
from zeroplan.envs.defaults import ensure_episode_limit
from zeroplan.envs.experts import resolve_opponent
from zeroplan.envs.gym import EnvError
from zeroplan.envs.spec import Symmetry, env_symmetries
from zeroplan.envs.user import check_user_env, is_user_env
from zeroplan.eval.evaluate import evaluation_scalars
from zeroplan.io.checkpoint import (Checkpoint, CheckpointError, json_bytes, load_weights, npz_bytes,
                                    save_checkpoint, tensor_bytes)
from zeroplan.io.cpu import resolve_threads
from zeroplan.io.device import resolve_device
from zeroplan.io.logging import MetricsLogger
from zeroplan.io.memory import available_memory
from zeroplan.mcts.rules import check_copies
from zeroplan.muzero.learner import TRAIN_METRICS, Learner
from zeroplan.muzero.reanalyze import Reanalyze
from zeroplan.muzero.replay import Replay, check_capacity
from zeroplan.muzero.search_model import check_sampled, search_model
from zeroplan.muzero.selfplay import SelfPlay
from zeroplan.nets.build import build_net
from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.runners.shell import (EpisodeEndWatch, Every, LoopShell, Rates, ReplayRatio, RunDirError, RunResult,
                                    refuse_existing_run)


def board_symmetries(env, config: Config) -> list[Symmetry]:
    """The symmetries training augments with: the env's own when replay.augment_symmetries is on."""
    if not config.replay.augment_symmetries:
        return []
    found = env_symmetries(env)
    if not found:
        raise ConfigError(f"replay.augment_symmetries is on, but {config.env.id} declares no symmetries "
                          "(of the shipped envs, tictactoe and connect4 do); turn it off")
    return found


def limit_threads(torch_threads: int) -> None:
    """The process's compute threads, set by a runner for the whole process:
    torch's intra-op pool, and numpy's BLAS at one thread (search-time matrix
    products are small, and an idle BLAS thread spinning after each one takes
    a core from torch's training)."""
    torch.set_num_threads(torch_threads)
    threadpool_limits(limits=1, user_api="blas")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult(RunResult):
    train_steps: int = 0


class TrainingDiverged(RuntimeError):
    """Updates kept coming out non-finite; the run stopped, its last checkpoint kept."""


STATE_FILES = ("train_state.safetensors", "replay.npz", "selfplay.npz", "state.json")


class LocalRunner:
    def __init__(self, config: Config, run_dir: str | Path | None, net: MuZeroNet | None = None,
                 env_factory: Callable[[], object] | None = None, tensorboard: bool = True,
                 _resuming: bool = False):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if not _resuming:
            refuse_existing_run(self.run_dir)
        self.notes: list[str] = []  # settings this runner settled for the config; the CLI prints them
        self.torch_threads, note = resolve_threads(config.run.torch_threads)
        if note is not None:
            self.notes.append(note)
        limit_threads(self.torch_threads)
        self.device, note = resolve_device(config.run.device)  # a GPU asked for and missing stops the run here
        self.notes += [note] if note else []
        seed_everything(config.run.seed)
        if env_factory is None and is_user_env(config.env.id) and not _resuming:
            check_user_env(config.env.id, config.env.max_episode_steps, config.env.kwargs)
        if env_factory is None:
            env_config, note = ensure_episode_limit(config.env)
            if note is not None:
                self.notes.append(note)
                config = self.config = config.model_copy(update={"env": env_config})
        self.env_factory = env_factory or (lambda: make_env(config.env))
        probe = self.env_factory()
        self.spec = probe.spec
        self.symmetries = board_symmetries(probe, config)
        if config.search.model == "rules":
            check_copies(probe, config.env.id)
        for key in ("eval_openings", "eval_score"):  # settings that only mean something for two players
            if getattr(config.run, key) != type(config.run).model_fields[key].default and self.spec.num_players != 2:
                raise ConfigError(f"run.{key} is for two-player games; {config.env.id} has one player")
        if self.spec.num_players == 2:
            config = self.config = self._settle_opponent(config)
        check_sampled(config, self.spec)
        check_capacity(config.replay, self.spec, available_memory(), config.search.sampled_actions)
        self.net = net if net is not None else build_net(config, self.spec.obs_shape, self.spec.num_actions,
                                                         self.spec.action_dim)
        self.net.to(self.device).eval()
        self.model = search_model(self.net, config)
        self.replay = Replay(config.replay, self.spec.num_actions, config.search.discount,
                             config.search.sampled_actions or None, self.spec.pixels)
        self.learner = Learner(self.net, config.train, config.net.support_size, config.replay.unroll_steps)
        self.selfplay = SelfPlay(config, env_factory or (lambda: make_env(config.env, training=True)),
                                 seed=config.run.seed)
        self.reanalyze = Reanalyze(config, self.spec.num_players, seed=config.run.seed + 3,
                                   target_net=self.learner.target_net)
        self.rng = np.random.default_rng(config.run.seed + 1)
        self.tensorboard = tensorboard
        self.logger: MetricsLogger | None = None
        self.result = TrainResult()
        self.ratio = ReplayRatio(config.train.replay_ratio, config.train.min_replay_size)
        self.shell = LoopShell(self.result, self.run_dir, None, lambda: self.save("best"), config.run.stop_at_return)
        self.train_hook: Callable[[object, dict], None] | None = None  # (batch, metrics) after each update
        if self.run_dir is not None and not _resuming:
            self._open_run_dir(resume_step=None)

    def _settle_opponent(self, config: Config) -> Config:
        """The evaluation opponent, resolved before the first step: "auto" becomes
        the game's expert or random play; one the game does not have is refused."""
        try:
            name, note = resolve_opponent(config.run.eval_opponent, config.env.id)
        except ValueError as err:
            raise ConfigError(f"run.eval_opponent: {err}") from None
        if note is not None:
            self.notes.append(note)
        return config.model_copy(update={"run": config.run.model_copy(update={"eval_opponent": name})})

    def _open_run_dir(self, resume_step: int | None) -> None:
        """Writes happen only here, after everything has been validated."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.run_dir / "checkpoints").glob(".*.tmp.*"):  # writes cut short by a kill
            shutil.rmtree(stale, ignore_errors=True)
        if resume_step is None:
            (self.run_dir / "config.json").write_text(json.dumps(self.config.model_dump(mode="json"), indent=1))
        self.logger = MetricsLogger(self.run_dir, self.tensorboard, resume_step=resume_step)
        self.shell.logger = self.logger

    # ---- checkpoints -------------------------------------------------------------------------

    def checkpoint_meta(self) -> dict:
        return {"algo": "muzero", "config": self.config.model_dump(mode="json"), "spec": self.spec.to_json(),
                "env_steps": self.result.env_steps, "train_steps": self.result.train_steps,
                "best_eval": self.result.best_eval}

    def save(self, name: str) -> Path | None:
        """An agent checkpoint: the network's weights and metadata."""
        if self.run_dir is None:
            return None
        return save_checkpoint(self.run_dir / "checkpoints" / name, self.net.state_dict(), self.checkpoint_meta())

    def save_state(self) -> Path | None:
        """`checkpoints/last`: the agent plus everything needed to resume the run."""
        if self.run_dir is None:
            return None
        return self.write_state(self.learner.state(), self.replay.state_arrays(), self.selfplay.state(),
                                self.rng.bit_generator.state,
                                self.reanalyze.rng.bit_generator.state if self.reanalyze.searches else None)

    def write_state(self, learner_state: tuple[dict, dict], replay_arrays: dict, selfplay_state: tuple[dict, dict],
                    sample_rng: dict, reanalyze_rng: dict | None) -> Path:
        """Write `checkpoints/last` from the components' states (the network's
        weights are this runner's `net`); the Ray runner gathers the same
        states from its actors and writes them through here."""
        learner_tensors, learner_info = learner_state
        selfplay_arrays, selfplay_info = selfplay_state
        res = self.result
        state = {
            "learner": learner_info, "selfplay": selfplay_info,
            "runner": {"rng": sample_rng, "steps_at_first_training": self.ratio.steps_at_first_training,
                       "torch_threads": self.torch_threads,
                       "result": {"env_steps": res.env_steps, "train_steps": res.train_steps, "seconds": res.seconds,
                                  "best_eval": res.best_eval, "eval_seconds": res.eval_seconds, "evals": res.evals,
                                  "solved_at": res.solved_at}},
            "reanalyze_rng": reanalyze_rng,
            "python_random": _jsonable(random.getstate()), "numpy_global": _jsonable(np.random.get_state()),
        }
        files = {"train_state.safetensors": tensor_bytes({**learner_tensors, "torch_rng": torch.get_rng_state()}),
                 "replay.npz": npz_bytes(replay_arrays), "selfplay.npz": npz_bytes(selfplay_arrays),
                 "state.json": json_bytes(state)}
        return save_checkpoint(self.run_dir / "checkpoints" / "last", self.net.state_dict(), self.checkpoint_meta(),
                               files)

    @classmethod
    def resume(cls, run_dir: str | Path, run_overrides: dict | None = None,
               env_factory: Callable[[], object] | None = None, tensorboard: bool = True) -> LocalRunner:
        """Rebuild a run from `run_dir/checkpoints/last`. Only `run.*` settings may
        change (e.g. max_env_steps). Nothing in `run_dir` is written unless the
        whole checkpoint has been read and restored."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: no such run directory")
        try:
            ckpt = Checkpoint(run_dir / "checkpoints" / "last")
        except CheckpointError as err:
            if not (run_dir / "checkpoints").is_dir():
                raise RunDirError(f"{run_dir}: no checkpoints to resume from (was it ever trained?)") from None
            raise err from None
        if ckpt.meta.get("algo") != "muzero" or not all(ckpt.has(f) for f in STATE_FILES):
            raise ckpt.error("meta.json", "not a resumable MuZero run checkpoint "
                             f"(needs algo 'muzero' and {', '.join(STATE_FILES)})")
        try:
            config = build_config(ckpt.meta["config"])
        except (KeyError, ConfigError) as err:
            raise ckpt.error("meta.json", f"config unusable ({err})") from None
        if run_overrides:
            unknown = sorted(set(run_overrides) - {"run"})
            if unknown:
                raise ConfigError(f"only run.* settings can change when resuming (got {', '.join(unknown)}); "
                                  "the network, search and training settings are the checkpoint's")
            config = build_config(merge(config.model_dump(mode="json"), run_overrides))
        runner = cls(config, run_dir, env_factory=env_factory, tensorboard=tensorboard, _resuming=True)
        runner._restore(ckpt)
        runner._open_run_dir(resume_step=runner.result.env_steps)
        return runner

    def _restore(self, ckpt: Checkpoint) -> None:
        load_weights(self.net, ckpt.tensors(), ckpt)
        state = ckpt.json("state.json")
        train_tensors = ckpt.tensors("train_state.safetensors")
        try:
            self.learner.load_state(train_tensors, state["learner"])
        except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as err:
            raise ckpt.error("train_state.safetensors", f"optimizer/target state does not fit ({err})") from None
        try:
            self.replay.load_state_arrays(ckpt.arrays("replay.npz"))
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ckpt.error("replay.npz", f"inconsistent replay contents ({err})") from None
        try:
            self.selfplay.restore(ckpt.arrays("selfplay.npz"), state["selfplay"])
        except EnvError:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ckpt.error("selfplay.npz", f"inconsistent self-play state ({err})") from None
        try:
            runner = state["runner"]
            res = self.result
            for key, value in runner["result"].items():
                setattr(res, key, value)
            self.ratio.steps_at_first_training = runner["steps_at_first_training"]
            self._keep_threads(runner.get("torch_threads"))
            self.net.eval()
            # RNGs last, once every object has been rebuilt (rebuilding may draw from them).
            self.rng.bit_generator.state = runner["rng"]
            if self.reanalyze.searches:
                self.reanalyze.rng.bit_generator.state = state["reanalyze_rng"]
            random.setstate(_tuples(state["python_random"]))
            kind, keys, pos, has_gauss, cached = state["numpy_global"]
            np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
            torch.set_rng_state(train_tensors["torch_rng"])
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise ckpt.error("state.json", f"inconsistent run state ({err})") from None
        if (res.env_steps, res.train_steps) != (ckpt.manifest["env_steps"], ckpt.manifest["train_steps"]):
            raise ckpt.error("state.json", "counters disagree with the manifest")

    def _keep_threads(self, saved: int | None) -> None:
        """A resumed run keeps the thread count `auto` chose when it started, so it
        continues as it began (the same arithmetic); a count given on resume wins."""
        if saved is None or self.config.run.torch_threads != "auto" or saved == self.torch_threads:
            return
        self.torch_threads = int(saved)
        limit_threads(self.torch_threads)
        self.notes = [n for n in self.notes if not n.startswith("run.torch_threads auto")]
        self.notes.append(f"run.torch_threads auto: {self.torch_threads}, as when the run started "
                          "(--set run.torch_threads=N to change it)")

    # ---- training ----------------------------------------------------------------------------

    def evaluate(self, episodes: int | None = None) -> float:
        """Single-player: the mean return. Two-player: the score (win 1, draw 0,
        loss -1) against the configured opponent, playing each side (from every
        opening of `run.eval_openings` moves, if set): the mean over both sides,
        or the worse side's mean (`run.eval_score`)."""
        return self.evaluate_scalars(episodes)["eval/mean_reward"]

    def evaluate_scalars(self, episodes: int | None = None, stop=None) -> dict[str, float]:
        """`evaluate`'s figure as eval/mean_reward, and for two-player games each
        side's mean score as eval/first and eval/second (`stop()`: give up)."""
        return evaluation_scalars(self.model, self.config, self.env_factory, self.spec.num_players,
                                  seed=10_000 + self.result.env_steps, episodes=episodes, stop=stop)

    def train(self, max_env_steps: int | None = None, max_minutes: float | None = None,
              progress: Callable[[dict], None] | None = None) -> TrainResult:
        """Train until `max_env_steps` in total, `max_minutes` of this call, the
        target return, or SIGINT/SIGTERM; the run state is saved whenever it stops."""
        cfg = self.config
        max_env_steps = max_env_steps or cfg.run.max_env_steps
        max_minutes = max_minutes if max_minutes is not None else cfg.run.max_minutes
        return self.shell.session(lambda: self._loop(max_env_steps, progress), self.save_state, max_minutes)

    def _loop(self, max_env_steps: int, progress) -> None:
        """Self-play one move in every env, store finished episodes, train at the
        replay ratio; log, evaluate and checkpoint at their points."""
        cfg, res, shell = self.config, self.result, self.shell
        evals, logs = Every(cfg.run.eval_interval, res.env_steps), Every(cfg.run.log_interval, res.env_steps)
        speed, quiet = Rates(res.env_steps), EpisodeEndWatch(res.env_steps)
        train_metrics = self._updates_due(shell)  # those a stop cut short, before anything else (resume exact)
        while res.env_steps < max_env_steps and not shell.should_stop():
            if shell.checkpoint_due(cfg.run.checkpoint_seconds):
                shell.stamp()
                self.save_state()
                shell.checkpointed()
            t0 = time.perf_counter()
            episodes = self.selfplay.step(self.model, cfg.train.temperature_at(res.env_steps))
            speed.searched(time.perf_counter() - t0, len(self.selfplay.envs) * cfg.search.num_simulations)
            res.env_steps += len(self.selfplay.envs)
            for ep in episodes:
                self.replay.add(ep)
            quiet.saw(res.env_steps, len(episodes))
            train_metrics = self._updates_due(shell) or train_metrics
            if logs.due(res.env_steps):
                shell.log(self._scalars(train_metrics, *speed.rates(res.env_steps)), progress)
            if evals.due(res.env_steps) and shell.evaluate(lambda: self.evaluate_scalars(stop=shell.should_stop),
                                                           {"env_steps": res.env_steps,
                                                            "train_steps": res.train_steps}, progress):
                break
        shell.stamp()

    def _updates_due(self, shell) -> dict:
        """The updates the replay ratio asks for now; the last one's metrics. A
        stop does not wait for the rest (updates on large images are slow on a
        CPU): the next call, after a resume too, does them first."""
        metrics: dict = {}
        res = self.result
        for _ in range(self.ratio.updates_due(res.env_steps, res.train_steps, len(self.replay))):
            if shell.should_stop():
                break
            metrics = self._train_once()
        return metrics

    def _train_once(self) -> dict:
        cfg = self.config
        batch = self.reanalyze.batch(self.replay, cfg.replay.batch_size, self.rng, self.model, self.symmetries)
        metrics, priorities = self.learner.train_step(batch)
        if priorities is not None:
            self.replay.update_priorities(batch.slots, priorities)
        self.result.train_steps += 1
        if self.train_hook is not None:
            self.train_hook(batch, metrics)
        limit = cfg.train.max_consecutive_skips
        if self.learner.consecutive_skips >= limit:
            raise TrainingDiverged(
                f"{limit} updates in a row had a non-finite loss or gradient (train step {self.result.train_steps}); "
                f"the run stopped without overwriting its last checkpoint"
                + (f" in {self.run_dir / 'checkpoints'}" if self.run_dir else "")
                + ". Try a lower train.lr or train.grad_clip.")
        return metrics

    def _scalars(self, train: dict, sims_per_s: float, fps: float) -> dict[str, float]:
        recent = list(self.selfplay.episode_returns)[-20:]
        out = {"rollout/ep_rew_mean": float(np.mean(recent)) if recent else float("nan"),
               "time/fps": fps, "search/sims_per_s": sims_per_s,
               "replay/priority_mean": self.replay.priority_mean(), "replay/transitions": float(len(self.replay)),
               "train/steps": float(self.result.train_steps),
               "train/skipped_updates": float(self.learner.skipped_updates)}
        for k in TRAIN_METRICS:
            if k in train:
                out[f"train/{k}"] = float(train[k])
        return out

    def close(self) -> None:
        if self.logger:
            self.logger.close()


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, list)):
        return [_jsonable(x) for x in obj]
    return obj


def _tuples(obj):
    return tuple(_tuples(x) for x in obj) if isinstance(obj, list) else obj
