"""Self-play: N environments in lockstep, one batched search per move.

Each environment is reset on its own when its episode ends; finished episodes
come back as numpy `Episode`s, and with `replay.segment_length` L so do the
first L moves of an episode still being played, then the next L, and so on.
The search sees the model only through `SearchModel`-like objects (numpy in,
numpy out).
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Callable

import numpy as np

from zeroplan.config import Config
from zeroplan.envs.frames import stack_frames, unpack_pixels
from zeroplan.envs.gym import EnvError
from zeroplan.mcts.model import Model, plan
from zeroplan.muzero.episode import Episode, EpisodeBuilder


class NonFinite(ValueError):
    pass


def _check_finite(obs: np.ndarray, reward: float) -> None:
    """Any environment, not only Gymnasium's: one NaN would poison the replay and the network."""
    if not np.isfinite(reward):
        raise NonFinite(f"returned a non-finite reward {reward}")
    obs = np.asarray(obs)
    if obs.dtype.kind == "f" and not np.isfinite(obs).all():
        raise NonFinite(f"returned a non-finite observation {obs}")


class SelfPlay:
    def __init__(self, config: Config, env_factory: Callable[[], object], seed: int, num_envs: int | None = None):
        self.config = config
        self.envs = [env_factory() for _ in range(num_envs or config.train.num_envs)]
        self.spec = self.envs[0].spec
        self.rng = np.random.default_rng(seed)
        # playout-cap randomisation's fast searches (train.full_search_fraction < 1)
        self._fast_search = config.search.model_copy(update={"num_simulations": config.train.fast_simulations})
        self._seed = seed
        self._resets = 0
        self.reset_seeds = [0] * len(self.envs)
        self.builders = [self._reset(i) for i in range(len(self.envs))]
        self.segment_starts = [0] * len(self.envs)  # where each episode's next segment starts
        self.env_steps = 0
        # Recent episodes only (for logging): memory stays flat however long the run.
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.ended_returns: list[float] = []  # the returns of the episodes the last step ended

    def _reset(self, i: int) -> EpisodeBuilder:
        self.reset_seeds[i] = self._seed * 1_000_003 + self._resets
        self._resets += 1
        env = self.envs[i]
        obs = env.reset(seed=self.reset_seeds[i])
        return EpisodeBuilder(obs, env.legal_mask().copy(), env.to_play(), self.spec.pixels)

    def _stacked(self, builder: EpisodeBuilder) -> np.ndarray:
        # a pixel env's frames are kept as uint8: the network sees them as the env gave them
        return unpack_pixels(stack_frames(builder.obs, len(builder.obs) - 1, self.config.replay.stack_frames))

    def step(self, model: Model, temperature: float, explore: bool = True) -> list[Episode]:
        """One move in every environment; returns the episodes that ended.
        `temperature` applies to each episode's first `train.temperature_moves` moves."""
        obs = np.stack([self._stacked(b) for b in self.builders])
        legal = np.stack([b.legal[-1] for b in self.builders])
        to_play = np.array([b.to_play[-1] for b in self.builders])
        moves = self.config.train.temperature_moves
        if moves is not None:  # past the opening, the most visited action
            temperature = np.array([temperature if len(b) < moves else 0.0 for b in self.builders])
        search, full = self.config.search, True
        if explore and self.config.train.full_search_fraction < 1:  # playout-cap randomisation
            full = bool(self.rng.random() < self.config.train.full_search_fraction)
            search = search if full else self._fast_search
        out = plan(model, obs, legal, to_play, search, self.rng, self.spec.num_players, temperature,
                   explore, envs=self.envs)
        # A fast search picks the move; its policy target is left out (all zeros: no cross-entropy).
        targets = out.policy_targets.astype(np.float32) if full else np.zeros(out.policy_targets.shape, np.float32)
        sampled = out.codes is not None
        root_legal = out.tree.legal[:, 0] if sampled else legal  # a sampled search's root children are its samples
        actions = self._explore(out.actions, root_legal) if explore else out.actions
        ended: list[tuple[int, bool | None]] = []  # (env, terminated), None: a segment cut, the episode goes on
        for i, (env, builder) in enumerate(zip(self.envs, self.builders)):
            # What is stored: the action's index, or a continuous action's code (the env gets tanh(code)).
            action = out.codes[i, actions[i]] if sampled else int(actions[i])
            action = int(action) if np.ndim(action) == 0 else action
            try:
                next_obs, reward, terminated, truncated = env.step(self.env_action(action))
                _check_finite(next_obs, reward)
            except Exception as err:
                # Undo this move everywhere: the state saved after a fault is
                # the one before it (environments are rebuilt from actions).
                for b in self.builders[:i]:
                    b.undo_step()
                where = f"self-play environment {i} of {len(self.envs)}"
                if isinstance(err, EnvError):  # already names the env and the step
                    raise EnvError(f"{where}: {err}") from err
                what = str(err) if isinstance(err, NonFinite) else f"raised {type(err).__name__}: {err}"
                raise EnvError(f"{where} ({self.spec.name or 'env'}), episode step {len(builder) + 1}: "
                               f"{what}") from err
            builder.record_search(float(out.root_values[i]), targets[i],
                                  out.codes[i] if sampled else None)
            builder.record_step(action, reward, next_obs, env.legal_mask().copy(), env.to_play())
            if terminated or truncated:
                ended.append((i, terminated))
            elif 0 < self.config.replay.segment_length <= len(builder) - self.segment_starts[i]:
                ended.append((i, None))
        self.env_steps += len(self.envs)
        return self._finish(model, ended)

    def env_action(self, action):
        """A stored action as the env takes it: an index, or a continuous action's code u -> tanh(u)."""
        return np.tanh(action) if self.spec.action_dim else action

    def _explore(self, actions: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """`train.random_action_fraction` of the moves replaced by uniformly random legal actions."""
        fraction = self.config.train.random_action_fraction
        if fraction <= 0:  # (no random draws: runs without it stay as they were)
            return actions
        actions = actions.copy()
        for i in np.flatnonzero(self.rng.random(len(actions)) < fraction):
            actions[i] = self.rng.choice(np.flatnonzero(legal[i]))
        return actions

    def _finish(self, model: Model, ended: list[tuple[int, bool | None]]) -> list[Episode]:
        self.ended_returns = []
        if not ended:
            return []
        cut = [i for i, terminated in ended if not terminated]
        final_values = {}
        if cut:  # the value of the last state of an episode (or segment) cut by a time limit
            _, values, _ = model.initial(np.stack([self._stacked(self.builders[i]) for i in cut]))
            final_values = dict(zip(cut, values.tolist()))
        episodes = []
        for i, terminated in ended:
            builder, start = self.builders[i], self.segment_starts[i]
            context = min(start, self.config.replay.stack_frames - 1)  # the frames its first states stack
            episodes.append(builder.finish(bool(terminated), final_values.get(i, 0.0), start, context))
            if terminated is None:  # a segment: the episode goes on
                self.segment_starts[i] = len(builder)
                continue
            self.ended_returns.append(float(sum(builder.rewards)))
            self.episode_returns.append(self.ended_returns[-1])
            self.builders[i] = self._reset(i)
            self.segment_starts[i] = 0
        return episodes

    # Resuming. An environment's state is its reset seed plus the actions taken
    # since, so no environment object is ever serialised: on restore each one is
    # reset with its seed and the actions are replayed.

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays: dict[str, np.ndarray] = {}
        for i, b in enumerate(self.builders):
            for name, value in b.arrays().items():
                arrays[f"env{i}.{name}"] = value
        info = {"num_envs": len(self.envs), "reset_seeds": list(self.reset_seeds), "resets": self._resets,
                "env_steps": self.env_steps, "episode_returns": list(self.episode_returns),
                "segment_starts": list(self.segment_starts),
                "rng": self.rng.bit_generator.state}
        return arrays, info

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> None:
        self._resets = int(info["resets"])
        self.env_steps = int(info["env_steps"])
        self.episode_returns.clear()
        self.episode_returns.extend(float(r) for r in info["episode_returns"])
        if info["num_envs"] != len(self.envs):  # e.g. a Ray run's worker resumed locally with other settings
            warnings.warn(f"the checkpoint has {info['num_envs']} self-play environments, this run "
                          f"{len(self.envs)}; their episodes in progress start afresh", stacklevel=2)
            self.builders = [self._reset(i) for i in range(len(self.envs))]
            self.segment_starts = [0] * len(self.envs)
            self.rng.bit_generator.state = info["rng"]
            return
        # (a checkpoint from before segments: nothing of its episodes in progress has entered replay)
        starts = info.get("segment_starts", [0] * len(self.envs))
        for i in range(len(self.envs)):
            saved = EpisodeBuilder.from_arrays({k.split(".", 1)[1]: v for k, v in arrays.items()
                                                if k.startswith(f"env{i}.")}, self.spec.pixels)
            self.reset_seeds[i] = int(info["reset_seeds"][i])
            self.segment_starts[i] = int(starts[i])
            if not self._replay_into(i, saved):
                warnings.warn(f"self-play environment {i} did not reproduce its saved episode from its seed and "
                              "actions (a non-deterministic environment?); that episode starts afresh",
                              stacklevel=2)
                self.builders[i] = self._reset(i)
                self.segment_starts[i] = 0
        self.rng.bit_generator.state = info["rng"]

    def _replay_into(self, i: int, saved: EpisodeBuilder) -> bool:
        env = self.envs[i]
        if not np.array_equal(saved.keep(env.reset(seed=self.reset_seeds[i])), saved.obs[0]):
            return False
        for t, action in enumerate(saved.actions):
            obs, reward, terminated, truncated = env.step(self.env_action(action))
            if not np.array_equal(saved.keep(obs), saved.obs[t + 1]) or reward != saved.rewards[t] or terminated or truncated:
                return False
        self.builders[i] = saved
        return True
