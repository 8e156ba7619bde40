"""The Ray backend: the local runner's components as actors.

    self-play actors (SelfPlay, each with its own batch of environments)
        --episodes--> replay actor (Replay, plus Reanalyze when configured)
        <--batches--  learner actor (Learner)  --weights by version--> self-play, replay, evaluator

The driver (this process) owns the run directory, exactly as the local runner
does: it keeps a `LocalRunner` for validation, resume, logging and checkpoints,
runs the same run-loop shell (runners/shell.py: timers, signals, evaluation
and keep-best, the replay ratio), and ships the components' states to and from the actors, so the
checkpoint format is the same on both backends and either can resume the other.

Flow control is by construction: every actor has at most one task in flight
(the learner two: the next waits in its queue),
finished episodes travel by object reference straight from a self-play actor
to the replay actor. A learner task is the updates (`train.replay_ratio`) one
round of self-play allows; self-play is held back once the data for the
learner's next task is waiting (so while the learner trains, self-play fills
its next task and no more, and plays with weights at most a few tasks old);
the learner waits for data in the same way, and fetches its batches a few at
a time, one request ahead. Evaluations run in their own actor
(at a lower CPU priority: they are off the critical path), beside training,
every `run.eval_interval` env steps as on the local runner; when one is still
running at the next point, self-play waits for it rather than skip a point (on
a small machine an evaluation is slower than the self-play between two points,
and skipped points made `stop_at_return` fire thousands of env steps late).
The object store therefore holds a bounded number of objects whatever the
relative speeds.

The actors are in runners/ray_actors.py. Self-play actors that die, or whose
environment raises, are restarted by Ray (an environment that keeps raising
stops the run, named, its state saved); a dead learner or replay actor ends
the run with its last checkpoint kept.
Unlike the local runner, a Ray run is not bit-for-bit reproducible (tasks
interleave as the machine schedules them).
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import ray
from ray.exceptions import RayActorError, RayTaskError

from zeroplan.config import ConfigError, build_config, merge
from zeroplan.envs.gym import EnvError
from zeroplan.muzero.learner import TRAIN_METRICS
from zeroplan.muzero.replay import Replay
from zeroplan.runners.local import LocalRunner, TrainingDiverged, TrainResult
from zeroplan.runners.ray_actors import (EVALUATOR_NICENESS, EvaluatorActor, LearnerActor,  # noqa: F401
                                         ReplayActor, SelfPlayActor, _load, _tensors, _weights)
from zeroplan.runners.shell import Every

# Small tasks keep self-play close to the newest weights: the local runner with
# self-play acting on weights copied every 32 updates needed 23k env steps for
# CartPole seed 0 instead of 9k (every 8 updates: 7k; benchmarks/journal/ray.md).
# A learner task is the updates one round of self-play allows, so self-play is
# never more than two or three tasks behind the learner.
MOVES_PER_TASK = 2  # lockstep moves a self-play actor makes per task
# Learner tasks given to it at once: with two, the next waits in its queue when
# one ends, rather than the learner waiting (3-4 ms on 2 cores) for the driver
# to hear of the end and send it; self-play then plays with weights one more
# task old.
LEARNER_QUEUE = 2
# A self-play actor whose environment raises is restarted (a transient fault:
# the run goes on); ENV_FAULTS errors from one actor within ENV_FAULT_WINDOW_S
# seconds stop the run, the environment's error named and the state before it saved.
ENV_FAULTS = 3
ENV_FAULT_WINDOW_S = 600.0


class RunFault(RuntimeError):
    """A component the run cannot go on without has failed; its last checkpoint is kept."""


def init_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to a cluster, or start a local Ray on loopback with the dashboard off."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False,
                 # Ray starts workers at nice +15 so they cannot starve the driver and
                 # its own daemons; here the actors do the work and the driver only
                 # dispatches, and at +15 the learner lost the CPU to it and to Ray's
                 # daemons (CartPole on 2 cores: 10.6 against 11.2-11.9 ms per update).
                 _system_config={"worker_niceness": 0})


@dataclass
class _InFlight:
    """What the driver has handed out and not yet taken in, and what it knows meanwhile."""

    replay_size: int
    version: int = 0
    weights: list = field(default_factory=list)  # [ObjectRef] of the newest published weights
    playing: dict = field(default_factory=dict)  # ObjectRef of stats -> (worker index, ObjectRef of episodes)
    # Learner tasks in flight, in order: the next is queued before the one
    # running ends, so the learner does not wait a round trip for it.
    training: deque = field(default_factory=deque)  # (ObjectRef, updates)
    evaluating: tuple | None = None  # (ObjectRef, weights, env_steps)
    metrics: dict = field(default_factory=dict)

    def refs(self) -> list:
        return list(self.playing) + [ref for ref, _ in self.training] + \
            ([self.evaluating[0]] if self.evaluating is not None else [])

    def idle(self) -> bool:
        return not self.playing and not self.training and self.evaluating is None


class RayRunner:
    """Same contract as LocalRunner.train; `local` is the LocalRunner that owns
    the run directory (its validation, resume, logging, checkpoints and run-loop shell)."""

    def __init__(self, local: LocalRunner, num_workers: int = 2, address: str | None = None,
                 env_factory: Callable | None = None):
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        if local.config.search.sampled_actions:
            raise ConfigError("search.sampled_actions (Sampled MuZero) trains on the local backend only so far")
        if local.config.net.chance_codes:
            raise ConfigError("net.chance_codes (Stochastic MuZero) trains on the local backend only so far")
        init_ray(address)
        self.local = local
        self.config = cfg = local.config
        spec = local.spec
        opts = {"num_cpus": 0}
        self.replay = ray.remote(ReplayActor).options(**opts, max_restarts=0).remote(
            cfg, spec.obs_shape, spec.num_actions, spec.num_players, cfg.run.seed, local.symmetries, spec.pixels)
        # The learner takes the thread count the local runner chose (`auto` looks once, before the actors start).
        learner_cfg = build_config(merge(cfg.model_dump(mode="json"),
                                         {"run": {"torch_threads": local.torch_threads}}))
        self.learner = ray.remote(LearnerActor).options(**opts, max_restarts=0).remote(
            learner_cfg, spec.obs_shape, spec.num_actions, self.replay)
        self.evaluator = ray.remote(EvaluatorActor).options(**opts, max_restarts=-1).remote(
            cfg, env_factory, spec.obs_shape, spec.num_actions, spec.num_players)
        # Worker 0 plays with the local runner's seed, so its state is the local runner's self-play state.
        self.workers = [ray.remote(SelfPlayActor).options(**opts, max_restarts=-1).remote(
            cfg, env_factory, cfg.run.seed + 7919 * i) for i in range(num_workers)]
        self._ship_state()
        self.returns: deque[float] = deque(maxlen=100)
        self.restarts = 0
        self.env_faults: list[deque[float]] = [deque() for _ in range(num_workers)]  # when, per self-play actor

    @property
    def result(self) -> TrainResult:
        return self.local.result

    def _ship_state(self) -> None:
        """The local runner's components (fresh or resumed) become the actors' starting state."""
        s = self.local
        tensors, info = s.learner.state()
        target = _weights(s.learner.target_net) if s.learner.target_net is not None else None
        waits = [self.learner.load.remote(_weights(s.net), tensors, info),
                 self.replay.restore.remote(s.replay.state_arrays(), s.rng.bit_generator.state,
                                            s.reanalyze.rng.bit_generator.state if s.reanalyze.searches else None,
                                            target),
                 self.workers[0].restore.remote(*s.selfplay.state())]
        ray.get(waits)
        s.replay = Replay(self.config.replay, s.spec.num_actions, self.config.search.discount,
                          pixels=s.spec.pixels)  # the actor's now

    def checkpoint(self) -> Path | None:
        """Gather the actors' states and write `checkpoints/last` through the local
        runner (without a run directory, only its network is brought up to date)."""
        if self.local.run_dir is None:
            try:
                _load(self.local.net, ray.get(self.learner.state.remote())[0])
            except RayActorError as err:
                raise RunFault(f"cannot fetch the learner's weights: {err}") from None
            return None
        try:
            (weights, learner_state, _), (arrays, rng, re_rng) = ray.get(
                [self.learner.state.remote(), self.replay.state.remote()])
        except RayActorError as err:
            raise RunFault(f"cannot checkpoint: {err}") from None
        try:
            selfplay_state = ray.get(self.workers[0].state.remote())
        except RayActorError:  # restarting: its environments start afresh anyway
            selfplay_state = self.local.selfplay.state()
        _load(self.local.net, weights)
        return self.local.write_state(learner_state, arrays, selfplay_state, rng, re_rng)

    def train(self, max_env_steps: int | None = None, max_minutes: float | None = None,
              progress: Callable[[dict], None] | None = None) -> TrainResult:
        cfg = self.config
        max_env_steps = max_env_steps or cfg.run.max_env_steps
        max_minutes = max_minutes if max_minutes is not None else cfg.run.max_minutes
        return self.local.shell.session(lambda: self._loop(max_env_steps, progress), self.checkpoint, max_minutes)

    def _loop(self, max_env_steps: int, progress) -> None:
        """Hand out tasks, then take in whatever finishes first, until the run
        is done and nothing is in flight."""
        cfg, res, shell = self.config, self.result, self.local.shell
        fl = _InFlight(replay_size=ray.get(self.replay.size.remote()))
        fl.version, fl.weights = ray.get(self.learner.publish.remote())
        self.replay.set_online.remote(fl.version, fl.weights)
        evals, logs = Every(cfg.run.eval_interval, res.env_steps), Every(cfg.run.log_interval, res.env_steps)
        last_log = (time.perf_counter(), res.env_steps)
        done = False
        while True:
            done = done or res.env_steps >= max_env_steps or shell.should_stop()
            if done and shell.should_stop():
                fl.evaluating = None  # a stop does not wait for an evaluation (its actor is shut down after)
            # A checkpoint waits for the learner's queue to empty (its state must be
            # that of the updates counted); no learner task is added while it waits.
            checkpoint_due = shell.checkpoint_due(cfg.run.checkpoint_seconds)
            if checkpoint_due and not fl.training:
                shell.stamp()
                self.checkpoint()
                shell.checkpointed()
                checkpoint_due = False
            if not done:
                self._hand_out(fl, eval_waiting=fl.evaluating is not None and res.env_steps >= evals.next,
                               learner_paused=checkpoint_due)
            if done and fl.idle():
                break
            ready, _ = ray.wait(fl.refs(), num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in fl.playing:
                    self._take_episodes(fl, ref)
                elif any(ref == r for r, _ in fl.training):
                    self._take_updates(fl, ref)
                elif self._take_evaluation(fl, progress):
                    done = True
            if not done and fl.evaluating is None and evals.due(res.env_steps):
                fl.evaluating = (self.evaluator.evaluate.remote(fl.weights, res.env_steps), fl.weights,
                                 res.env_steps)
            if logs.due(res.env_steps):
                now = time.perf_counter()
                fps = (res.env_steps - last_log[1]) / max(now - last_log[0], 1e-9)
                last_log = (now, res.env_steps)
                shell.log(self._scalars(fl.metrics, fps, fl.replay_size), progress)
        shell.stamp()

    def _updates_allowed(self, fl: _InFlight) -> int:
        """Updates the data so far allows beyond those done or given to the learner."""
        res = self.result
        due = self.local.ratio.updates_due(res.env_steps, res.train_steps, fl.replay_size)
        return due - sum(steps for _, steps in fl.training) if due > 0 else 0

    def _hand_out(self, fl: _InFlight, eval_waiting: bool, learner_paused: bool) -> None:
        """The learner first: once it has taken the waiting data, self-play starts
        on the next task at once, rather than at the next event. Self-play pauses
        while the learner's next task is already there (while the learner trains,
        self-play fills the next task, no more), and while the evaluator is still
        busy with the previous point (no evaluation point is skipped)."""
        cfg = self.config
        task_steps = max(1, int(np.ceil(cfg.train.replay_ratio * len(self.workers) * MOVES_PER_TASK
                                        * cfg.train.num_envs)))  # updates per learner task
        while len(fl.training) < LEARNER_QUEUE and not learner_paused:
            steps = min(self._updates_allowed(fl), task_steps)
            if steps <= 0:
                break
            fl.training.append((self.learner.train.remote(steps), steps))
        busy = {i for i, _ in fl.playing.values()}
        for i, worker in enumerate(self.workers):
            ahead = fl.replay_size >= cfg.train.min_replay_size and self._updates_allowed(fl) >= task_steps
            if i not in busy and not ahead and not eval_waiting:
                stats, episodes = worker.play.options(num_returns=2).remote(
                    MOVES_PER_TASK, cfg.train.temperature_at(self.result.env_steps), fl.version, fl.weights)
                fl.playing[stats] = (i, episodes)

    def _take_episodes(self, fl: _InFlight, ref) -> None:
        i, episodes = fl.playing.pop(ref)
        try:
            stats = ray.get(ref)
        except RayActorError:  # killed or crashed: Ray restarts it; play on
            self.restarts += 1
            return
        except RayTaskError as err:
            cause = _unwrap(err)
            if not isinstance(cause, EnvError):
                raise cause from None
            faults, now = self.env_faults[i], time.monotonic()
            faults.append(now)
            while faults[0] < now - ENV_FAULT_WINDOW_S:
                faults.popleft()
            if len(faults) >= ENV_FAULTS:  # the shell saves and says how to resume
                raise EnvError(f"self-play actor {i} ({len(faults)} environment errors within "
                               f"{ENV_FAULT_WINDOW_S / 60:g} minutes): {cause}") from None
            ray.kill(self.workers[i], no_restart=False)  # Ray restarts it, its environments afresh; play on
            self.restarts += 1
            return
        # The driver counts the buffer's size itself (it is bounded by its capacity
        # exactly so), rather than wait for the replay actor after every task.
        self.replay.add.remote(episodes)
        fl.replay_size = min(fl.replay_size + stats["transitions"], self.config.replay.capacity)
        self.result.env_steps += stats["env_steps"]
        self.returns.extend(stats["returns"])

    def _take_updates(self, fl: _InFlight, ref) -> None:
        cfg, res = self.config, self.result
        fl.training = deque(task for task in fl.training if task[0] != ref)
        out = self._get(ref, "learner")
        res.train_steps += out["steps"]
        fl.metrics = out["metrics"]
        if out["diverged"]:
            raise TrainingDiverged(
                f"{cfg.train.max_consecutive_skips} updates in a row had a non-finite loss or gradient "
                f"(train step {res.train_steps}); the run stopped without overwriting its last checkpoint")
        if out["version"] > fl.version:  # (tasks end in order; the check costs nothing)
            fl.version, fl.weights = out["version"], out["weights"]
        if cfg.train.reanalyse_fraction > 0:  # the replay actor searches with them
            self.replay.set_online.remote(fl.version, fl.weights)

    def _take_evaluation(self, fl: _InFlight, progress) -> bool:
        """Record the finished evaluation; True when the target return is reached."""
        ref, weights, env_steps = fl.evaluating
        fl.evaluating = None
        scalars = self._get(ref, "evaluator")
        elapsed = self.local.shell.elapsed()
        record = {"env_steps": env_steps, "train_steps": self.result.train_steps, "seconds": elapsed,
                  "seconds_excluding_eval": elapsed}
        return self.local.shell.record_eval(scalars, record, progress,
                                            lambda: self.local.net.load_state_dict(_tensors(ray.get(weights[0]))))

    def _get(self, ref, what: str):
        where = self.local.run_dir
        hint = f"; its last checkpoint is kept: continue with `zeroplan train --resume {where}`" if where else ""
        try:
            return ray.get(ref)
        except RayActorError as err:
            raise RunFault(f"the {what} actor died ({type(err).__name__}){hint}") from None
        except RayTaskError as err:
            cause = _unwrap(err)
            if isinstance(cause, RayActorError):  # e.g. the learner's replay actor died under it
                raise RunFault(f"the {what} actor lost an actor it depends on ({type(cause).__name__}){hint}") \
                    from None
            raise cause from None

    def _scalars(self, train: dict, fps: float, replay_size: int) -> dict[str, float]:
        recent = list(self.returns)[-20:]
        out = {"rollout/ep_rew_mean": float(np.mean(recent)) if recent else float("nan"), "time/fps": fps,
               "replay/transitions": float(replay_size), "train/steps": float(self.result.train_steps),
               "ray/worker_restarts": float(self.restarts)}
        for k in TRAIN_METRICS:
            if k in train:
                out[f"train/{k}"] = float(train[k])
        return out

    def shutdown(self) -> None:
        """Stop the actors (the local runner and its run directory stay usable)."""
        for actor in [self.learner, self.replay, self.evaluator, *self.workers]:
            ray.kill(actor)


def _unwrap(err: RayTaskError) -> BaseException:
    """The original exception of a failed task (an EnvError, say), so callers see one clear message."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err
