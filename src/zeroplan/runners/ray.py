"""The Ray backend: the local runner's components as actors.

    self-play actors (SelfPlay, each with its own batch of environments)
        --episodes--> replay actor (Replay, plus Reanalyze when configured)
        <--batches--  learner actor (Learner)  --weights by version--> self-play, replay, evaluator

The driver (this process) owns the run directory, exactly as the local runner
does: it keeps a `LocalRunner` as a shell for validation, resume, logging and
checkpoints, and ships the components' states to and from the actors, so the
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

Self-play actors that die are restarted by Ray and their task resubmitted; a
dead learner or replay actor ends the run with its last checkpoint kept.
Unlike the local runner, a Ray run is not bit-for-bit reproducible (tasks
interleave as the machine schedules them).
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from zeroplan.config import Config
from zeroplan.envs import make_env
from zeroplan.envs.gym import EnvError
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.learner import Learner, bootstrap_fn
from zeroplan.muzero.reanalyze import Reanalyze
from zeroplan.muzero.replay import Replay
from zeroplan.muzero.selfplay import SelfPlay
from zeroplan.nets.muzero_net import SearchModel
from zeroplan.runners.local import (LocalRunner, TrainingDiverged, TrainResult, build_net, limit_threads,
                                    training_batch)

# Small tasks keep self-play close to the newest weights: the local runner with
# self-play acting on weights copied every 32 updates needed 23k env steps for
# CartPole seed 0 instead of 9k (every 8 updates: 7k; benchmarks/RESULTS.md).
# A learner task is the updates one round of self-play allows, so self-play is
# never more than two or three tasks behind the learner.
MOVES_PER_TASK = 2  # lockstep moves a self-play actor makes per task
BATCHES_PER_REQUEST = 4  # training batches the learner fetches from the replay actor in one call
# Learner tasks given to it at once: with two, the next waits in its queue when
# one ends, rather than the learner waiting (3-4 ms on 2 cores) for the driver
# to hear of the end and send it; self-play then plays with weights one more
# task old.
LEARNER_QUEUE = 2
EVALUATOR_NICENESS = 10  # added to the evaluator's nice value: the learner and self-play come first


class RunFault(RuntimeError):
    """A component the run cannot go on without has failed; its last checkpoint is kept."""


def _weights(net: torch.nn.Module) -> dict[str, np.ndarray]:
    """A network's state as numpy arrays: Ray ships those as raw buffers, where
    torch tensors go through torch's pickler (3-4 times the CPU on both ends)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """`_weights` output as a state dict (copied: arrays from Ray's object store are read-only)."""
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}


def _load(net: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    net.load_state_dict(_tensors(arrays))


class SelfPlayActor:
    def __init__(self, config: Config, env_factory: Callable | None, seed: int):
        limit_threads(1)
        self.config = config
        self.selfplay = SelfPlay(config, env_factory or (lambda: make_env(config.env)), seed=seed)
        spec = self.selfplay.spec
        self.net = build_net(config, spec.obs_shape, spec.num_actions).eval()
        self.model = SearchModel(self.net, config.net.inference)
        self.version = -1

    def play(self, moves: int, temperature: float, version: int, weights: list) -> tuple[dict, list[dict]]:
        """`weights` is [ObjectRef] (in a list so Ray does not fetch it unless the version is new)."""
        if version > self.version:
            _load(self.net, ray.get(weights[0]))
            self.version = version
        episodes: list[Episode] = []
        for _ in range(moves):
            episodes += self.selfplay.step(self.model, temperature)
        stats = {"env_steps": moves * len(self.selfplay.envs), "transitions": sum(len(ep) for ep in episodes),
                 "returns": [ep.total_reward for ep in episodes]}
        return stats, [ep.arrays() for ep in episodes]

    def state(self) -> tuple[dict, dict]:
        return self.selfplay.state()

    def restore(self, arrays: dict, info: dict) -> None:
        self.selfplay.restore(arrays, info)

    def pid(self) -> int:
        return os.getpid()


class ReplayActor:
    """Replay, and Reanalyze on sampled batches (the network for it arrives with each new version)."""

    def __init__(self, config: Config, obs_shape: tuple[int, ...], num_actions: int, num_players: int, seed: int,
                 symmetries: list | None = None):
        limit_threads(1)
        self.config = config
        self.symmetries = list(symmetries or [])
        self.replay = Replay(config.replay, num_actions, config.search.discount)
        self.rng = np.random.default_rng(seed + 1)
        self.target = build_net(config, obs_shape, num_actions).eval() \
            if config.train.target_update_interval > 0 else None
        # Bootstraps through the target network, whose weights `set_target` loads in place.
        self.value_fn = bootstrap_fn(self.target, config, num_players) if self.target is not None else None
        self.reanalyze = Reanalyze(config, num_players, seed=seed + 3) if config.train.reanalyse_fraction > 0 else None
        self.net = build_net(config, obs_shape, num_actions).eval() if self.reanalyze else None
        self.model = SearchModel(self.net, config.net.inference) if self.net is not None else None
        self.version = -1

    def add(self, episodes: list[dict]) -> int:
        for arrays in episodes:
            self.replay.add(Episode.from_arrays(arrays))
        return len(self.replay)

    def sample(self, batch_size: int, count: int) -> list:
        """`count` training batches, drawn one after another as the local runner draws them."""
        return [training_batch(self.replay, batch_size, self.rng, self.value_fn, self.reanalyze, self.model,
                               self.symmetries) for _ in range(count)]

    def update_priorities(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        """Slots may repeat; the priority given last wins."""
        self.replay.update_priorities(slots, priorities)

    def set_target(self, weights: list) -> None:
        if self.target is not None:
            _load(self.target, ray.get(weights[0]))

    def set_online(self, version: int, weights: list) -> None:
        if self.net is not None and version > self.version:
            _load(self.net, ray.get(weights[0]))
            self.version = version

    def state(self) -> tuple[dict, dict, dict | None]:
        return (self.replay.state_arrays(), self.rng.bit_generator.state,
                self.reanalyze.rng.bit_generator.state if self.reanalyze else None)

    def restore(self, arrays: dict, rng: dict, reanalyze_rng: dict | None, target: dict | None) -> None:
        self.replay.load_state_arrays(arrays)
        self.rng.bit_generator.state = rng
        if self.reanalyze is not None and reanalyze_rng is not None:
            self.reanalyze.rng.bit_generator.state = reanalyze_rng
        if self.target is not None and target is not None:
            _load(self.target, target)

    def size(self) -> int:
        return len(self.replay)


class LearnerActor:
    def __init__(self, config: Config, obs_shape: tuple[int, ...], num_actions: int, replay):
        limit_threads(config.run.torch_threads)
        self.config = config
        self.replay = replay  # its actor handle
        self.net = build_net(config, obs_shape, num_actions).eval()
        self.learner = Learner(self.net, config.train, config.net.support_size, config.replay.unroll_steps)
        self.version = 0
        # Batches come from the replay actor BATCHES_PER_REQUEST at a time, the next
        # request sent as soon as one arrives (also across tasks), so sampling overlaps
        # training and a Ray call's fixed cost is shared by several updates.
        self.batches: deque = deque()
        self.pending = None

    def load(self, weights: dict, learner_tensors: dict, learner_info: dict) -> None:
        _load(self.net, weights)
        self.learner.load_state(learner_tensors, learner_info)

    def publish(self) -> tuple[int, list]:
        self.version += 1
        return self.version, [ray.put(_weights(self.net))]

    def _next_batch(self):
        if not self.batches:
            size = self.config.replay.batch_size
            if self.pending is None:  # the first request of the run
                self.pending = self.replay.sample.remote(size, BATCHES_PER_REQUEST)
            self.batches.extend(ray.get(self.pending))
            self.pending = self.replay.sample.remote(size, BATCHES_PER_REQUEST)
        return self.batches.popleft()

    def train(self, steps: int) -> dict[str, Any]:
        """`steps` updates on batches from the replay actor (BATCHES_PER_REQUEST
        per call, the next call made while those train and its batches kept for
        the next task); the new priorities go back once, after the task, and
        the new weights are published."""
        cfg, replay = self.config, self.replay
        interval = cfg.train.target_update_interval
        metrics: dict = {}
        slots, priorities = [], []
        done, diverged = 0, False
        while done < steps and not diverged:
            batch = self._next_batch()
            before = self.learner.steps
            metrics, new_priorities = self.learner.train_step(batch)
            done += 1
            if new_priorities is not None:
                slots.append(batch.slots)
                priorities.append(new_priorities)
            if interval and self.learner.steps != before and self.learner.steps % interval == 0:
                replay.set_target.remote([ray.put(_weights(self.learner.target_net))])
            diverged = self.learner.consecutive_skips >= cfg.train.max_consecutive_skips
        if slots:
            replay.update_priorities.remote(np.concatenate(slots), np.concatenate(priorities))
        if diverged:
            return {"metrics": metrics, "steps": done, "diverged": True}
        version, weights = self.publish()
        return {"metrics": metrics, "steps": done, "diverged": False, "version": version, "weights": weights}

    def state(self) -> tuple[dict, tuple[dict, dict], dict | None]:
        target = _weights(self.learner.target_net) if self.learner.target_net is not None else None
        return _weights(self.net), self.learner.state(), target


class EvaluatorActor:
    def __init__(self, config: Config, env_factory: Callable | None):
        limit_threads(1)
        if hasattr(os, "nice"):  # POSIX; elsewhere it runs at the normal priority
            os.nice(EVALUATOR_NICENESS)
        self.shell = LocalRunner(config, None, env_factory=env_factory, tensorboard=False)

    def evaluate(self, weights: list, env_steps: int) -> dict[str, float]:
        _load(self.shell.net, ray.get(weights[0]))
        self.shell.result.env_steps = env_steps  # evaluation seeds follow env steps, as in the local runner
        return self.shell.evaluate_scalars()


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


class RayRunner:
    """Same contract as LocalRunner.train; `shell` is the LocalRunner that owns the run directory."""

    def __init__(self, shell: LocalRunner, num_workers: int = 2, address: str | None = None,
                 env_factory: Callable | None = None):
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        init_ray(address)
        self.shell = shell
        self.config = cfg = shell.config
        spec = shell.spec
        opts = {"num_cpus": 0}
        self.replay = ray.remote(ReplayActor).options(**opts, max_restarts=0).remote(
            cfg, spec.obs_shape, spec.num_actions, spec.num_players, cfg.run.seed, shell.symmetries)
        self.learner = ray.remote(LearnerActor).options(**opts, max_restarts=0).remote(
            cfg, spec.obs_shape, spec.num_actions, self.replay)
        self.evaluator = ray.remote(EvaluatorActor).options(**opts, max_restarts=-1).remote(cfg, env_factory)
        # Worker 0 plays with the local runner's seed, so its state is the local runner's self-play state.
        self.workers = [ray.remote(SelfPlayActor).options(**opts, max_restarts=-1).remote(
            cfg, env_factory, cfg.run.seed + 7919 * i) for i in range(num_workers)]
        self._ship_state()
        self.returns: deque[float] = deque(maxlen=100)
        self.restarts = 0

    @property
    def result(self) -> TrainResult:
        return self.shell.result

    def _ship_state(self) -> None:
        """The shell's components (fresh or resumed) become the actors' starting state."""
        s = self.shell
        tensors, info = s.learner.state()
        target = _weights(s.learner.target_net) if s.learner.target_net is not None else None
        waits = [self.learner.load.remote(_weights(s.net), tensors, info),
                 self.replay.restore.remote(s.replay.state_arrays(), s.rng.bit_generator.state,
                                            s.reanalyze.rng.bit_generator.state if s.reanalyze else None, target),
                 self.workers[0].restore.remote(*s.selfplay.state())]
        ray.get(waits)
        s.replay = Replay(self.config.replay, s.spec.num_actions, self.config.search.discount)  # the actor's now

    def checkpoint(self) -> Path | None:
        """Gather the actors' states and write `checkpoints/last` through the shell
        (without a run directory, only the shell's network is brought up to date)."""
        if self.shell.run_dir is None:
            try:
                _load(self.shell.net, ray.get(self.learner.state.remote())[0])
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
            selfplay_state = self.shell.selfplay.state()
        _load(self.shell.net, weights)
        return self.shell.write_state(learner_state, arrays, selfplay_state, rng, re_rng)

    def train(self, max_env_steps: int | None = None, max_minutes: float | None = None,
              progress: Callable[[dict], None] | None = None) -> TrainResult:
        cfg = self.config
        max_env_steps = max_env_steps or cfg.run.max_env_steps
        max_minutes = max_minutes if max_minutes is not None else cfg.run.max_minutes
        return self.shell.run_session(lambda: self._loop(max_env_steps, max_minutes, progress), self.checkpoint)

    def _loop(self, max_env_steps: int, max_minutes: float | None, progress) -> None:
        cfg, shell, res = self.config, self.shell, self.shell.result
        ratio = cfg.train.replay_ratio
        round_steps = len(self.workers) * MOVES_PER_TASK * cfg.train.num_envs
        task_steps = max(1, int(np.ceil(ratio * round_steps)))  # updates per learner task
        session_start = time.perf_counter()
        start = session_start - res.seconds
        last_checkpoint = session_start
        next_eval = (res.env_steps // cfg.run.eval_interval + 1) * cfg.run.eval_interval
        next_log = (res.env_steps // cfg.run.log_interval + 1) * cfg.run.log_interval
        replay_size = ray.get(self.replay.size.remote())
        version, weights = ray.get(self.learner.publish.remote())
        self.replay.set_online.remote(version, weights)
        playing: dict = {}  # ObjectRef of stats -> worker index
        # Learner tasks in flight, in order: the next is queued before the one
        # running ends, so the learner does not wait a round trip for it.
        training: deque = deque()  # (ObjectRef, updates)
        evaluating = None  # (ref, weights, env_steps)
        metrics: dict = {}
        last_log = (time.perf_counter(), res.env_steps)
        done = False

        def allowed_train_steps() -> int:
            """Updates the data so far allows beyond those done or given to the learner."""
            if replay_size < cfg.train.min_replay_size:
                return 0
            if shell._steps_at_first_training is None:
                shell._steps_at_first_training = res.env_steps - res.train_steps / ratio
            target = int(np.ceil(ratio * (res.env_steps - shell._steps_at_first_training)))
            return target - res.train_steps - sum(steps for _, steps in training)

        def ahead() -> bool:
            # The learner's next task is already there: self-play pauses (while the
            # learner trains, self-play fills the next task, no more).
            return replay_size >= cfg.train.min_replay_size and allowed_train_steps() >= task_steps

        while True:
            now = time.perf_counter()
            if not done and (res.env_steps >= max_env_steps or shell._stop_signal is not None
                             or (max_minutes is not None and now - session_start > max_minutes * 60)):
                done = True
            # A checkpoint waits for the learner's queue to empty (its state must be
            # that of the updates counted); no learner task is added while it waits.
            checkpoint_due = now - last_checkpoint >= cfg.run.checkpoint_seconds
            if checkpoint_due and not training:
                res.seconds = now - start
                self.checkpoint()
                last_checkpoint, checkpoint_due = time.perf_counter(), False
            if not done:
                busy = {i for i, _ in playing.values()}
                # No evaluation point is skipped: while the evaluator is still busy with
                # the previous one, self-play waits at the next (and the learner at the
                # replay ratio), as the local runner's evaluations are taken in turn.
                eval_due = evaluating is not None and res.env_steps >= next_eval
                # The learner first: once it has taken the waiting data, self-play
                # starts on the next task at once, rather than at the next event.
                while len(training) < LEARNER_QUEUE and not checkpoint_due:
                    steps = min(allowed_train_steps(), task_steps)
                    if steps <= 0:
                        break
                    training.append((self.learner.train.remote(steps), steps))
                for i, worker in enumerate(self.workers):
                    if i not in busy and not ahead() and not eval_due:
                        stats, episodes = worker.play.options(num_returns=2).remote(
                            MOVES_PER_TASK, cfg.train.temperature_at(res.env_steps), version, weights)
                        playing[stats] = (i, episodes)
            if done and not playing and not training and evaluating is None:
                break
            waiting = list(playing) + [ref for ref, _ in training] + \
                ([evaluating[0]] if evaluating is not None else [])
            ready, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in playing:
                    i, episodes = playing.pop(ref)
                    try:
                        stats = ray.get(ref)
                    except RayActorError:  # killed or crashed: Ray restarts it; play on
                        self.restarts += 1
                        continue
                    except RayTaskError as err:
                        cause = _unwrap(err)
                        if isinstance(cause, EnvError):  # run_session saves and says how to resume
                            raise EnvError(f"self-play actor {i}: {cause}") from None
                        raise cause from None
                    # The driver counts the buffer's size itself (it is bounded by its capacity
                    # exactly so), rather than wait for the replay actor after every task.
                    self.replay.add.remote(episodes)
                    replay_size = min(replay_size + stats["transitions"], cfg.replay.capacity)
                    res.env_steps += stats["env_steps"]
                    self.returns.extend(stats["returns"])
                elif any(ref == r for r, _ in training):
                    training = deque(task for task in training if task[0] != ref)
                    out = self._get(ref, "learner")
                    res.train_steps += out["steps"]
                    metrics = out["metrics"]
                    if out["diverged"]:
                        raise TrainingDiverged(
                            f"{cfg.train.max_consecutive_skips} updates in a row had a non-finite loss or gradient "
                            f"(train step {res.train_steps}); the run stopped without overwriting its last checkpoint")
                    if out["version"] > version:  # (tasks end in order; the check costs nothing)
                        version, weights = out["version"], out["weights"]
                    if cfg.train.reanalyse_fraction > 0:  # the replay actor searches with them
                        self.replay.set_online.remote(version, weights)
                else:
                    ref_, eval_weights, eval_steps = evaluating
                    evaluating = None
                    scalars = self._get(ref_, "evaluator")
                    if self._record_eval(scalars, eval_weights, eval_steps, time.perf_counter() - start, progress):
                        done = True
            if not done and evaluating is None and res.env_steps >= next_eval:
                next_eval = (res.env_steps // cfg.run.eval_interval + 1) * cfg.run.eval_interval
                evaluating = (self.evaluator.evaluate.remote(weights, res.env_steps), weights, res.env_steps)
            if res.env_steps >= next_log:
                now = time.perf_counter()
                fps = (res.env_steps - last_log[1]) / max(now - last_log[0], 1e-9)
                last_log = (now, res.env_steps)
                scalars = self._scalars(metrics, fps, replay_size)
                if shell.logger:
                    shell.logger.log(res.env_steps, scalars)
                if progress:
                    progress({"env_steps": res.env_steps, **scalars})
                next_log = (res.env_steps // cfg.run.log_interval + 1) * cfg.run.log_interval
        res.seconds = time.perf_counter() - start

    def _get(self, ref, what: str):
        where = self.shell.run_dir
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

    def _record_eval(self, scalars: dict[str, float], weights: list, env_steps: int, elapsed: float,
                     progress) -> bool:
        record = {"env_steps": env_steps, "train_steps": self.result.train_steps, "seconds": elapsed,
                  "seconds_excluding_eval": elapsed}
        return self.shell.record_eval(scalars, record, progress, lambda: _tensors(ray.get(weights[0])))

    def _scalars(self, train: dict, fps: float, replay_size: int) -> dict[str, float]:
        recent = list(self.returns)[-20:]
        out = {"rollout/ep_rew_mean": float(np.mean(recent)) if recent else float("nan"), "time/fps": fps,
               "replay/transitions": float(replay_size), "train/steps": float(self.result.train_steps),
               "ray/worker_restarts": float(self.restarts)}
        for k in ("loss", "value_loss", "policy_loss", "reward_loss", "lr", "grad_norm"):
            if k in train:
                out[f"train/{k}"] = float(train[k])
        return out

    def shutdown(self) -> None:
        """Stop the actors (the shell and its run directory stay usable)."""
        for actor in [self.learner, self.replay, self.evaluator, *self.workers]:
            ray.kill(actor)


def _unwrap(err: RayTaskError) -> BaseException:
    """The original exception of a failed task (an EnvError, say), so callers see one clear message."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err
