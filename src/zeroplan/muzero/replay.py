"""Replay: episode storage, prioritized sampling, and MuZero's training targets.

Targets for a sample starting at state t, unroll steps k = 0..K (idx = t + k):

- value: the n-step return z_idx = sum_{i<m} gamma^i s_i u_{idx+i} + gamma^m s_m v_{idx+m},
  m = min(n, T - idx), with every reward and the bootstrap value turned to the
  point of view of the player to move at idx (s = +1 same player, -1 other).
  v_T is 0 for a terminated episode and the network's value of the last state
  for one cut by a time limit. Past the end (idx > T) the state is absorbing:
  value 0 and reward 0 after a real end; no target (masked) after a time limit.
- reward (k >= 1): rewards[idx - 1], the reward of the action that led to idx.
- policy: the search's policy at idx, for idx < T; masked at and past the end.
- action fed to the dynamics at step k: actions[idx], random past the end.

The n-step sums that do not depend on the network are computed once, when an
episode is added, so sampling is array slicing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroplan.config import ReplayConfig
from zeroplan.envs.spec import Symmetry
from zeroplan.muzero.episode import Episode

PRIORITY_EPS = 1e-6


@dataclass
class Batch:
    obs: np.ndarray  # [B, *stacked_obs_shape], the observation at t
    actions: np.ndarray  # int64 [B, K]
    target_values: np.ndarray  # float32 [B, K+1]
    target_rewards: np.ndarray  # float32 [B, K+1] (column 0 unused)
    target_policies: np.ndarray  # float32 [B, K+1, A]
    value_mask: np.ndarray  # float32 [B, K+1]
    reward_mask: np.ndarray  # float32 [B, K+1]
    policy_mask: np.ndarray  # float32 [B, K+1]
    weights: np.ndarray  # float32 [B], importance-sampling weights (1 when uniform)
    slots: np.ndarray  # int64 [B], ring slots, for update_priorities
    episode_ids: np.ndarray  # int64 [B]
    starts: np.ndarray  # int64 [B], t


class _Stored:
    """An episode plus the network-independent parts of its value targets."""

    def __init__(self, ep: Episode, discount: float, td_steps: int):
        self.ep = ep
        length = len(ep)
        to_play = ep.to_play.astype(np.int64)
        self.prefix = np.zeros(length + 1)
        self.boot_index = np.empty(length + 1, dtype=np.int64)
        self.boot_discount = np.empty(length + 1)
        for t in range(length + 1):
            m = min(td_steps, length - t)
            signs = np.where(to_play[t:t + m] == to_play[t], 1.0, -1.0)
            self.prefix[t] = float(np.sum(discount ** np.arange(m) * signs * ep.rewards[t:t + m]))
            b = t + m
            self.boot_index[t] = b
            self.boot_discount[t] = discount ** m * (1.0 if to_play[b] == to_play[t] else -1.0)
        self.refs = 0


class Replay:
    """Bounded by `capacity` transitions: a ring of sample starts over the
    stored episodes; an episode is dropped once none of its starts remain."""

    def __init__(self, config: ReplayConfig, num_actions: int, discount: float):
        self.config = config
        self.num_actions = num_actions
        self.discount = discount
        cap = config.capacity
        self._episode_of = np.full(cap, -1, dtype=np.int64)
        self._start_of = np.zeros(cap, dtype=np.int64)
        self._priority = np.zeros(cap)
        self._episodes: dict[int, _Stored] = {}
        self._next_slot = 0
        self._size = 0
        self._next_id = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self._size

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def add(self, ep: Episode, priorities: np.ndarray | None = None) -> int:
        """Store an episode; priorities default to |stored root value - value target|."""
        ep.validate()
        stored = _Stored(ep, self.discount, self.config.td_steps)
        eid = self._next_id
        self._next_id += 1
        self._episodes[eid] = stored
        length = len(ep)
        if priorities is None:
            z = stored.prefix[:length] + stored.boot_discount[:length] * ep.root_values[stored.boot_index[:length]]
            priorities = np.abs(ep.root_values[:length] - z) + PRIORITY_EPS
        for t in range(length):
            slot = self._next_slot
            old = self._episode_of[slot]
            if old >= 0:
                self._release(int(old), adding=eid)
            self._episode_of[slot] = eid
            self._start_of[slot] = t
            self._priority[slot] = priorities[t]
            stored.refs += 1
            self._next_slot = (slot + 1) % self.config.capacity
            self._size = min(self._size + 1, self.config.capacity)
        if stored.refs == 0:
            del self._episodes[eid]
        self.total_added += length
        return eid

    def _release(self, eid: int, adding: int) -> None:
        stored = self._episodes[eid]
        stored.refs -= 1
        if stored.refs == 0 and eid != adding:  # an episode longer than the buffer evicts itself
            del self._episodes[eid]

    def sample_slots(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(slots, importance weights)."""
        n = self._size
        if n == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if not self.config.prioritized:
            return rng.integers(0, n, size=batch_size), np.ones(batch_size, dtype=np.float32)
        p = self._priority[:n] ** self.config.priority_alpha
        p = p / p.sum()
        slots = rng.choice(n, size=batch_size, p=p)
        w = (n * p[slots]) ** (-self.config.priority_beta)
        return slots, (w / w.max()).astype(np.float32)

    def sample(self, batch_size: int, rng: np.random.Generator, value_fn=None) -> Batch:
        """A training batch. `value_fn(obs [N, ...]) -> values [N]` (e.g. a target
        network) replaces the stored root values used for bootstrapping."""
        slots, weights = self.sample_slots(batch_size, rng)
        return self.batch_for(slots, weights, rng, value_fn)

    def batch_for(self, slots: np.ndarray, weights: np.ndarray, rng: np.random.Generator, value_fn=None) -> Batch:
        k1 = self.config.unroll_steps + 1
        a = self.num_actions
        n = len(slots)
        obs, boot_obs, boot_where = [], [], []
        actions = rng.integers(0, a, size=(n, k1 - 1))
        values = np.zeros((n, k1), dtype=np.float32)
        rewards = np.zeros((n, k1), dtype=np.float32)
        policies = np.full((n, k1, a), 1.0 / a, dtype=np.float32)
        value_mask = np.zeros((n, k1), dtype=np.float32)
        reward_mask = np.zeros((n, k1), dtype=np.float32)
        policy_mask = np.zeros((n, k1), dtype=np.float32)
        episode_ids = self._episode_of[slots]
        starts = self._start_of[slots]
        for i, (eid, t) in enumerate(zip(episode_ids, starts)):
            st = self._episodes[int(eid)]
            ep = st.ep
            length = len(ep)
            obs.append(self.stacked_obs(ep, int(t)))
            end = min(t + k1, length + 1)  # idx in [t, end) are real states
            real = end - t
            idx = np.arange(t, end)
            boot = st.boot_index[idx]
            values[i, :real] = st.prefix[idx] + st.boot_discount[idx] * ep.root_values[boot]
            value_mask[i, :real] = 1.0
            if value_fn is not None:
                # Fresh values where the bootstrap state is a real, non-final one
                # (a terminated episode's last state is worth 0 by definition).
                live = (boot < length) | (not ep.terminated)
                for j in np.flatnonzero(live):
                    boot_obs.append(self.stacked_obs(ep, int(boot[j])))
                    boot_where.append((i, j, st.prefix[idx[j]], st.boot_discount[idx[j]]))
            if ep.terminated:
                value_mask[i, real:] = 1.0  # absorbing: value 0
                reward_mask[i, 1:] = 1.0  # absorbing: reward 0
            else:
                reward_mask[i, 1:real] = 1.0
            rewards[i, 1:real] = ep.rewards[t:end - 1]
            acts = min(k1 - 1, length - t)
            actions[i, :acts] = ep.actions[t:t + acts]
            pol = min(k1, length - t)
            policies[i, :pol] = ep.policy_targets[t:t + pol]
            policy_mask[i, :pol] = 1.0
        if boot_obs:
            fresh = np.asarray(value_fn(np.stack(boot_obs)), dtype=np.float64)
            for (i, j, prefix, disc), v in zip(boot_where, fresh):
                values[i, j] = prefix + disc * v
        return Batch(np.stack(obs), actions, values, rewards, policies, value_mask, reward_mask, policy_mask,
                     weights, slots, episode_ids, starts)

    def stacked_obs(self, ep: Episode, t: int) -> np.ndarray:
        return stack_frames(ep.obs, t, self.config.stack_frames)

    def update_priorities(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        self._priority[slots] = np.asarray(priorities, dtype=np.float64) + PRIORITY_EPS

    def priority_mean(self) -> float:
        return float(self._priority[: self._size].mean()) if self._size else 0.0

    def episode(self, eid: int) -> Episode | None:
        st = self._episodes.get(int(eid))
        return st.ep if st is not None else None

    def episodes(self) -> list[Episode]:
        return [st.ep for st in self._episodes.values()]

    # Resuming: the whole buffer as plain arrays (for an .npz without pickle).
    _FIELDS = ("obs", "actions", "rewards", "to_play", "legal_masks", "root_values", "policy_targets")

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Episodes concatenated per field (in id order) plus the ring and counters."""
        ids = sorted(self._episodes)
        eps = [self._episodes[i].ep for i in ids]
        out: dict[str, np.ndarray] = {
            "episode_ids": np.asarray(ids, dtype=np.int64),
            "lengths": np.asarray([len(ep) for ep in eps], dtype=np.int64),
            "terminated": np.asarray([ep.terminated for ep in eps], dtype=bool),
            "ring_episode": self._episode_of, "ring_start": self._start_of, "ring_priority": self._priority,
            "counters": np.asarray([self._next_slot, self._size, self._next_id, self.total_added], dtype=np.int64)}
        for name in self._FIELDS:
            parts = [getattr(ep, name) for ep in eps]
            out[f"ep.{name}"] = np.concatenate(parts) if parts else np.zeros((0,), np.float32)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`; raises ValueError naming what is inconsistent."""
        cap = self.config.capacity
        for name in ("ring_episode", "ring_start", "ring_priority"):
            if arrays[name].shape != (cap,):
                raise ValueError(f"{name} has shape {arrays[name].shape}, the replay capacity is {cap}")
        lengths = arrays["lengths"].astype(np.int64)
        ids = arrays["episode_ids"].astype(np.int64)
        if len(ids) != len(lengths) or len(ids) != len(arrays["terminated"]) or (lengths < 0).any():
            raise ValueError("episode_ids, lengths and terminated disagree")
        episodes: dict[int, _Stored] = {}
        offset_t = offset_s = 0  # transitions [T] and states [T+1]
        for eid, length, terminated in zip(ids.tolist(), lengths.tolist(), arrays["terminated"].tolist()):
            kw = {}
            for name in self._FIELDS:
                data = arrays[f"ep.{name}"]
                lo, n = (offset_t, length) if name in ("actions", "rewards") else (offset_s, length + 1)
                if lo + n > len(data):
                    raise ValueError(f"ep.{name} is shorter than the episode lengths say")
                kw[name] = data[lo:lo + n].copy()
            offset_t += length
            offset_s += length + 1
            ep = Episode(**kw, terminated=bool(terminated))
            ep.validate()
            if ep.legal_masks.shape[1:] != (self.num_actions,):
                raise ValueError(f"episode {eid} has {ep.legal_masks.shape[1:]} actions, expected {self.num_actions}")
            episodes[eid] = _Stored(ep, self.discount, self.config.td_steps)
        ring = arrays["ring_episode"].astype(np.int64)
        starts = arrays["ring_start"].astype(np.int64)
        for slot in np.flatnonzero(ring >= 0):
            st = episodes.get(int(ring[slot]))
            if st is None or not 0 <= starts[slot] < len(st.ep):
                raise ValueError(f"ring slot {slot} points at a missing episode or step")
            st.refs += 1
        self._episodes = episodes
        self._episode_of, self._start_of = ring, starts
        self._priority = arrays["ring_priority"].astype(np.float64)
        self._next_slot, self._size, self._next_id, self.total_added = (int(v) for v in arrays["counters"])


def augment(batch: Batch, symmetries: list[Symmetry] | tuple[Symmetry, ...], rng: np.random.Generator) -> None:
    """In place: each sample seen through one of `symmetries` or the identity, drawn uniformly.

    The observation (every stacked frame), the unrolled actions and the policy
    targets are transformed; values, rewards and masks do not change under a
    symmetry. Apply it last, after reanalyse has written its targets."""
    if not symmetries:
        return
    choice = rng.integers(len(symmetries) + 1, size=len(batch.obs))  # 0 = identity
    for s, sym in enumerate(symmetries, start=1):
        rows = np.flatnonzero(choice == s)
        if rows.size == 0:
            continue
        obs = batch.obs[rows]
        frames = obs.reshape(rows.size, -1, sym.obs_index.size)
        batch.obs[rows] = frames[:, :, sym.obs_index].reshape(obs.shape)
        batch.actions[rows] = sym.action_map[batch.actions[rows]]
        batch.target_policies[rows] = batch.target_policies[rows][..., sym.inverse_actions]


def stack_frames(obs: np.ndarray | list[np.ndarray], t: int, frames: int) -> np.ndarray:
    """The last `frames` observations up to t, concatenated on the first axis
    (repeating the first observation before the episode's start)."""
    if frames == 1:
        return obs[t]
    idx = [max(0, t - i) for i in range(frames - 1, -1, -1)]
    return np.concatenate([obs[j] for j in idx], axis=0)
