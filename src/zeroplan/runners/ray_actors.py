"""The Ray backend's actors: the local runner's components, each in its own
process (runners/ray.py drives them). Weights travel between them as numpy
arrays, which Ray ships as raw buffers."""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable

import numpy as np
import ray
import torch

from zeroplan.config import Config
from zeroplan.envs import make_env
from zeroplan.eval.evaluate import evaluation_scalars
from zeroplan.io.cpu import resolve_threads
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.reanalyze import Reanalyze
from zeroplan.muzero.replay import Replay
from zeroplan.muzero.search_model import search_model
from zeroplan.muzero.selfplay import SelfPlay
from zeroplan.io.device import resolve_device
from zeroplan.nets.build import build_net
from zeroplan.nets.search_model import SearchModel
from zeroplan.runners.local import limit_threads

BATCHES_PER_REQUEST = 4  # training batches the learner fetches from the replay actor in one call
EVALUATOR_NICENESS = 10  # added to the evaluator's nice value: the learner and self-play come first


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
        self.selfplay = SelfPlay(config, env_factory or (lambda: make_env(config.env, training=True)), seed=seed)
        spec = self.selfplay.spec
        self.net = build_net(config, spec.obs_shape, spec.num_actions).eval()
        self.model = search_model(self.net, config)
        self.version = -1

    def play(self, moves: int, temperature: float, version: int, weights: list) -> tuple[dict, list[dict]]:
        """`weights` is [ObjectRef] (in a list so Ray does not fetch it unless the version is new)."""
        if version > self.version:
            _load(self.net, ray.get(weights[0]))
            self.version = version
        episodes: list[Episode] = []
        returns: list[float] = []  # of the episodes that ended (a segment of one still going has none)
        for _ in range(moves):
            episodes += self.selfplay.step(self.model, temperature)
            returns += self.selfplay.ended_returns
        stats = {"env_steps": moves * len(self.selfplay.envs),
                 "transitions": sum(len(ep) - ep.context for ep in episodes), "returns": returns}
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
                 symmetries: list | None = None, pixels: bool = False):
        limit_threads(1)
        self.config = config
        self.symmetries = list(symmetries or [])
        self.replay = Replay(config.replay, num_actions, config.search.discount, pixels=pixels)
        self.rng = np.random.default_rng(seed + 1)
        self.target = build_net(config, obs_shape, num_actions).eval() \
            if config.train.target_update_interval > 0 else None
        # Bootstraps through the target network, whose weights `set_target` loads in place.
        self.reanalyze = Reanalyze(config, num_players, seed=seed + 3, target_net=self.target)
        self.net = build_net(config, obs_shape, num_actions).eval() if self.reanalyze.searches else None
        self.model = SearchModel(self.net, config.net.inference) if self.net is not None else None
        self.version = -1

    def add(self, episodes: list[dict]) -> int:
        for arrays in episodes:
            self.replay.add(Episode.from_arrays(arrays))
        return len(self.replay)

    def sample(self, batch_size: int, count: int) -> list:
        """`count` training batches, drawn one after another as the local runner draws them."""
        return [self.reanalyze.batch(self.replay, batch_size, self.rng, self.model, self.symmetries)
                for _ in range(count)]

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
                self.reanalyze.rng.bit_generator.state if self.reanalyze.searches else None)

    def restore(self, arrays: dict, rng: dict, reanalyze_rng: dict | None, target: dict | None) -> None:
        self.replay.load_state_arrays(arrays)
        self.rng.bit_generator.state = rng
        if self.reanalyze.searches and reanalyze_rng is not None:
            self.reanalyze.rng.bit_generator.state = reanalyze_rng
        if self.target is not None and target is not None:
            _load(self.target, target)

    def size(self) -> int:
        return len(self.replay)


class LearnerActor:
    def __init__(self, config: Config, obs_shape: tuple[int, ...], num_actions: int, replay):
        limit_threads(resolve_threads(config.run.torch_threads)[0])  # the local runner's count (RayRunner)
        self.config = config
        self.replay = replay  # its actor handle
        self.net = build_net(config, obs_shape, num_actions).to(resolve_device(config.run.device)[0]).eval()
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
    """The local runner's periodic evaluation, on weights the learner published."""

    def __init__(self, config: Config, env_factory: Callable | None, obs_shape: tuple[int, ...], num_actions: int,
                 num_players: int):
        limit_threads(1)
        if hasattr(os, "nice"):  # POSIX; elsewhere it runs at the normal priority
            os.nice(EVALUATOR_NICENESS)
        self.config = config
        self.env_factory = env_factory or (lambda: make_env(config.env))
        self.num_players = num_players
        self.net = build_net(config, obs_shape, num_actions).eval()
        self.model = search_model(self.net, config)

    def evaluate(self, weights: list, env_steps: int) -> dict[str, float]:
        _load(self.net, ray.get(weights[0]))
        # Evaluation seeds follow env steps, as in the local runner.
        return evaluation_scalars(self.model, self.config, self.env_factory, self.num_players, seed=10_000 + env_steps)
