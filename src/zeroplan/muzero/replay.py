"""Replay: episode storage, prioritized sampling, and MuZero's training targets.

Targets for a sample starting at state t, unroll steps k = 0..K (idx = t + k):

- value: the n-step return z_idx = sum_{i<m} gamma^i s_i u_{idx+i} + gamma^m s_m v_{idx+m},
  m = min(n, T - idx) (with `replay.td_shrink_every` = E > 0, n shrinks with the
  sample's age a, the transitions added since its episode was: max(1, n - a // E)), with every reward and the bootstrap value turned to the
  point of view of the player to move at idx (s = +1 same player, -1 other).
  v_T is 0 for a terminated episode and the network's value of the last state
  for one cut by a time limit. Past the end (idx > T) the state is absorbing:
  value 0 and reward 0 after a real end; no target (masked) after a time limit.
- reward (k >= 1): rewards[idx - 1], the reward of the action that led to idx.
- policy: the search's policy at idx, for idx < T; masked at and past the end.
- action fed to the dynamics at step k: actions[idx], random past the end
  (a continuous action's code [D] drawn from a standard normal).
  With a sampled search (Episode.codes) the policy target at idx is over the
  actions its search sampled, codes[idx] (`Batch.policy_codes`).

The n-step sums that do not depend on the network are computed once, when an
episode is added, so sampling is array slicing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroplan.config import ConfigError, ReplayConfig
from zeroplan.envs.spec import EnvSpec, Symmetry
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.store import EpisodeStore

PRIORITY_EPS = 1e-6


@dataclass
class Batch:
    obs: np.ndarray  # [B, *stacked_obs_shape], the observation at t
    actions: np.ndarray  # int64 [B, K], or float32 [B, K, D] codes of continuous actions
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
    # The observations at t+1..t+K and where those are real states [B, K]
    # (Replay.future_obs; for the consistency loss, else None).
    next_obs: np.ndarray | None = None  # [B, K, *stacked_obs_shape]
    next_obs_mask: np.ndarray | None = None  # float32 [B, K]
    # Sampled search only (Episode.codes): the sampled actions each policy target is over,
    # [B, K+1, S] indices or [B, K+1, S, D] codes (S samples per state).
    policy_codes: np.ndarray | None = None


def replay_bytes(config: ReplayConfig, spec: EnvSpec, sampled: int = 0) -> int:
    """About what a full buffer holds in memory: per transition, the ring's
    slot (4 x 8 bytes) and twice a stored row (the store keeps up to about
    twice the live rows between compactions): the observation (float32, or
    uint8 for a pixel env), the legal mask and policy target, and the per-row
    target parts (58 bytes). With `sampled` K actions per search, the policy
    target has K entries and the row keeps the K codes (8 bytes each, or 4 x
    the action dimension for continuous actions)."""
    action_dim = spec.action_dim
    codes = sampled * (4 * action_dim if action_dim else 8) + 4 * action_dim
    obs = (1 if spec.pixels else 4) * int(np.prod(spec.obs_shape, dtype=np.int64))
    row = obs + spec.num_actions + 4 * (sampled or spec.num_actions) + codes + 58
    return config.capacity * (32 + 2 * row)


def check_capacity(config: ReplayConfig, spec: EnvSpec, available: int | None, sampled: int = 0) -> None:
    """Refuse a buffer that cannot fit, before anything is allocated."""
    needed = replay_bytes(config, spec, sampled)
    if available is not None and needed > available:
        raise ConfigError(f"replay.capacity {config.capacity:,} transitions of {tuple(spec.obs_shape)} observations "
                          f"need about {needed / 2**30:,.1f} GiB of memory; {available / 2**30:,.1f} GiB is "
                          "available. Lower replay.capacity")


class Replay:
    """Bounded by `capacity` transitions: a ring of sample starts over the
    stored episodes; an episode is dropped once none of its starts remain."""

    def __init__(self, config: ReplayConfig, num_actions: int, discount: float, policy_size: int | None = None,
                 pixels: bool = False):
        self.config = config
        self.num_actions = num_actions
        self.pixels = pixels  # a pixel env's: observations stored as uint8
        self.policy_size = num_actions if policy_size is None else policy_size  # K with a sampled search
        self.discount = discount
        cap = config.capacity
        self._episode_of = np.full(cap, -1, dtype=np.int64)
        self._start_of = np.zeros(cap, dtype=np.int64)
        self._row_of = np.zeros(cap, dtype=np.int64)
        self._priority = np.zeros(cap)
        self._store = EpisodeStore(num_actions, discount, config.td_steps, self.policy_size, pixels)
        self._refs: dict[int, int] = {}
        self._added_at: dict[int, int] = {}  # episode id -> total_added when it was added (its age's origin)
        self._next_slot = 0
        self._size = 0
        self._next_id = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self._size

    @property
    def num_episodes(self) -> int:
        return len(self._refs)

    def _append(self, eid: int, ep: Episode) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        store = self._store
        moves = store.moves
        try:
            return store.add(eid, ep)
        finally:  # the store was compacted (even if the add then failed): ring rows move with it
            if store.moves != moves:
                live = self._episode_of >= 0
                self._row_of[live] = store.remap[self._row_of[live]]

    def add(self, ep: Episode, priorities: np.ndarray | None = None) -> int:
        """Store an episode; priorities default to |stored root value - value target|.
        A segment's first `ep.context` states are stored but never a sample's start."""
        ep.validate()
        eid, self._next_id = self._next_id, self._next_id + 1
        length, context = len(ep), ep.context
        new = length - context  # the transitions it adds
        lo, prefix, m, disc = self._append(eid, ep)
        if priorities is None:
            z = prefix[:length] + disc[:length] * ep.root_values[np.arange(length) + m[:length]]
            priorities = np.abs(ep.root_values[:length] - z) + PRIORITY_EPS
        cap = self.config.capacity
        t = np.arange(max(context, length - cap), length)  # an episode longer than the buffer keeps its last starts
        slots = (self._next_slot + t - context) % cap
        old = self._episode_of[slots]
        for old_id, count in zip(*np.unique(old[old >= 0], return_counts=True)):
            self._release(int(old_id), int(count))
        self._episode_of[slots] = eid
        self._start_of[slots] = t
        self._row_of[slots] = lo + t
        self._priority[slots] = np.asarray(priorities, dtype=np.float64)[t]
        self._refs[eid] = len(t)
        self._added_at[eid] = self.total_added + new  # its age counts from when it entered, whole
        if not len(t):
            self._refs.pop(eid)
            self._added_at.pop(eid)
            self._store.drop(eid)
        self._next_slot = (self._next_slot + new) % cap
        self._size = min(self._size + new, cap)
        self.total_added += new
        return eid

    def _release(self, eid: int, count: int) -> None:
        self._refs[eid] -= count
        if self._refs[eid] == 0:
            del self._refs[eid]
            self._added_at.pop(eid, None)
            self._store.drop(eid)

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
        """A training batch. `value_fn(obs [N, ...], legal [N, A]) -> values [N]`
        (e.g. a target network's) replaces the stored root values used for bootstrapping."""
        slots, weights = self.sample_slots(batch_size, rng)
        return self.batch_for(slots, weights, rng, value_fn)

    def batch_for(self, slots: np.ndarray, weights: np.ndarray, rng: np.random.Generator, value_fn=None) -> Batch:
        """The targets of the module docstring for every sampled start at once
        (checked against tests/reference/replay_targets.py, which loops over them)."""
        unroll = self.config.unroll_steps
        a = self.policy_size
        st = self._store
        slots = np.asarray(slots, dtype=np.int64)
        n = len(slots)
        if st.actions.ndim > 1:  # continuous: codes, whose actions tanh(u) cover [-1, 1]
            actions = rng.standard_normal((n, unroll) + st.actions.shape[1:]).astype(st.actions.dtype)
        else:
            actions = rng.integers(0, self.num_actions, size=(n, unroll))
        row0 = self._row_of[slots]
        left = st.left[row0][:, None]  # T - t >= 1
        terminated = st.terminated[row0][:, None]
        k = np.arange(unroll + 1)[None, :]
        real = k <= left  # idx = t + k in [t, T]: a real state
        rows = row0[:, None] + np.minimum(k, left)
        prefix, boot_rows, boot_discount = self._n_step(rows, self._episode_of[slots])
        values = np.where(real, prefix + boot_discount * st.root_values[boot_rows], 0.0)
        if value_fn is not None:
            # Fresh values where the bootstrap state is a real, non-final one
            # (a terminated episode's last state is worth 0 by definition).
            live = real & ((st.left[boot_rows] > 0) | ~terminated)
            if live.any():
                fresh = np.asarray(value_fn(st.stacked_obs(boot_rows[live], self.config.stack_frames),
                                            st.legal_masks[boot_rows[live]]), dtype=np.float64)
                values[live] = prefix[live] + boot_discount[live] * fresh
        value_mask = real | terminated
        step = k[:, 1:]  # reward of the action into idx = t + k, k >= 1
        rewards = np.zeros((n, unroll + 1), dtype=np.float32)
        rewards[:, 1:] = np.where(step <= left, st.rewards[row0[:, None] + np.minimum(step, left) - 1], 0.0)
        reward_mask = np.zeros((n, unroll + 1), dtype=np.float32)
        reward_mask[:, 1:] = (step <= left) | terminated
        searched = k < left  # policy targets where a search happened (idx < T)
        policies = np.where(searched[..., None], st.policy_targets[rows], np.float32(1.0 / a))
        acted = searched[:, :unroll]
        actions[acted] = st.actions[rows[:, :unroll][acted]]
        batch = Batch(st.stacked_obs(row0, self.config.stack_frames), actions, values.astype(np.float32), rewards,
                      policies.astype(np.float32), value_mask.astype(np.float32), reward_mask,
                      searched.astype(np.float32), weights, slots, self._episode_of[slots], self._start_of[slots])
        if "codes" in st.arrays:
            batch.policy_codes = st.codes[rows]
        return batch

    def td_horizons(self, episode_ids: np.ndarray) -> np.ndarray:
        """Each sample's bootstrap horizon: replay.td_steps, shrunk by the age of
        its episode when replay.td_shrink_every is set (never below 1)."""
        n, every = self.config.td_steps, self.config.td_shrink_every
        if not every or n <= 1:
            return np.full(len(episode_ids), n, np.int64)
        return np.clip(n - self.ages(episode_ids) // every, 1, n)

    def ages(self, episode_ids: np.ndarray) -> np.ndarray:
        """Transitions added to the buffer since each episode was (0 for the newest)."""
        return self.total_added - np.array([self._added_at[int(e)] for e in episode_ids], np.int64)

    def _n_step(self, rows: np.ndarray, episode_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reward prefix, bootstrap row, signed bootstrap discount) of rows [B, K+1]:
        as stored for replay.td_steps, or recomputed for age-shrunk horizons."""
        st = self._store
        if not self.config.td_shrink_every:
            return st.prefix[rows], rows + st.boot_steps[rows], st.boot_discount[rows]
        return st.n_step_parts(rows, self.td_horizons(episode_ids)[:, None])

    def has_episode(self, eid: int) -> bool:
        return int(eid) in self._refs

    def _rows(self, episode_ids: np.ndarray, steps: np.ndarray) -> np.ndarray:
        base = self._store.base
        return np.array([base[int(e)] for e in episode_ids], dtype=np.int64) + np.asarray(steps, dtype=np.int64)

    def search_inputs(self, episode_ids: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What a search from stored states needs: their (frame-stacked)
        observations, legal masks and players to move."""
        rows = self._rows(episode_ids, steps)
        st = self._store
        return st.stacked_obs(rows, self.config.stack_frames), st.legal_masks[rows], st.to_play[rows]

    def future_obs(self, episode_ids: np.ndarray, starts: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The (frame-stacked) observations at starts + 1 .. starts + `steps` of
        each sample's episode, [B, steps, ...], and float32 [B, steps] marking
        the real states (past an episode's end its last state stands in, masked)."""
        st = self._store
        rows0 = self._rows(episode_ids, starts)
        left = st.left[rows0][:, None]
        k = np.arange(1, steps + 1)[None, :]
        rows = rows0[:, None] + np.minimum(k, left)
        return st.stacked_obs(rows, self.config.stack_frames), (k <= left).astype(np.float32)

    def write_search(self, episode_ids: np.ndarray, steps: np.ndarray, policies: np.ndarray,
                     root_values: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Replace the stored search results of states with fresher ones (reanalyse);
        a state given twice keeps the last. A sampled search gives its samples' `codes`."""
        rows = self._rows(episode_ids, steps)
        if ("codes" in self._store.arrays) != (codes is not None):
            raise ValueError("a sampled search's results come with their codes, and only those")
        self._store.policy_targets[rows] = policies
        self._store.root_values[rows] = root_values
        if codes is not None:
            self._store.codes[rows] = codes

    def update_priorities(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        self._priority[slots] = np.asarray(priorities, dtype=np.float64) + PRIORITY_EPS

    def priority_mean(self) -> float:
        return float(self._priority[: self._size].mean()) if self._size else 0.0

    def episode(self, eid: int) -> Episode | None:
        """A stored episode as views of the buffer's arrays, for reading (write
        with `write_search`). Valid until the next `add`, which may move rows. A segment
        comes back with context 0: the ring says which states are sample starts."""
        return self._store.episode(int(eid)) if int(eid) in self._refs else None

    # Resuming: the whole buffer as plain arrays (for an .npz without pickle).
    _FIELDS = ("obs", "actions", "rewards", "to_play", "legal_masks", "root_values", "policy_targets")

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Episodes concatenated per field (in id order) plus the ring and counters."""
        st = self._store
        ids = list(st.base)
        heads = np.asarray([st.base[i] for i in ids], dtype=np.int64)
        out: dict[str, np.ndarray] = {
            "episode_ids": np.asarray(ids, dtype=np.int64),
            "lengths": st.left[heads] if ids else np.zeros(0, np.int64),
            "terminated": st.terminated[heads] if ids else np.zeros(0, bool),
            "ring_episode": self._episode_of, "ring_start": self._start_of, "ring_priority": self._priority,
            "counters": np.asarray([self._next_slot, self._size, self._next_id, self.total_added], dtype=np.int64),
            "added_at": np.asarray([self._added_at[i] for i in ids], dtype=np.int64)}
        states, transitions = st.live_row_index(), st.live_row_index(states=False)
        for name in self._FIELDS + (("codes",) if "codes" in st.arrays else ()):
            rows = transitions if name in ("actions", "rewards") else states
            out[f"ep.{name}"] = getattr(st, name)[rows] if ids else np.zeros((0,), np.float32)
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
        store = EpisodeStore(self.num_actions, self.discount, self.config.td_steps, self.policy_size, self.pixels)
        offset_t = offset_s = 0  # transitions [T] and states [T+1]
        fields = self._FIELDS + (("codes",) if "ep.codes" in arrays else ())
        for eid, length, terminated in zip(ids.tolist(), lengths.tolist(), arrays["terminated"].tolist()):
            kw = {}
            for name in fields:
                data = arrays[f"ep.{name}"]
                lo, n = (offset_t, length) if name in ("actions", "rewards") else (offset_s, length + 1)
                if lo + n > len(data):
                    raise ValueError(f"ep.{name} is shorter than the episode lengths say")
                kw[name] = data[lo:lo + n]
            offset_t += length
            offset_s += length + 1
            ep = Episode(**kw, terminated=bool(terminated))
            ep.validate()
            if ep.legal_masks.shape[1:] != (self.num_actions,):
                raise ValueError(f"episode {eid} has {ep.legal_masks.shape[1:]} actions, expected {self.num_actions}")
            if eid in store.base:
                raise ValueError(f"episode id {eid} appears twice")
            store.add(eid, ep)
        ring = arrays["ring_episode"].astype(np.int64)
        starts = arrays["ring_start"].astype(np.int64)
        if arrays["counters"].shape != (4,):
            raise ValueError(f"counters has shape {arrays['counters'].shape}, expected (4,)")
        next_slot, size, next_id, total_added = (int(v) for v in arrays["counters"])
        if not (0 <= next_slot < cap and 0 <= size <= cap and 0 <= total_added):
            raise ValueError(f"counters {arrays['counters'].tolist()} are out of range for capacity {cap}")
        if (ring[:size] < 0).any():
            raise ValueError(f"ring slot {int(np.flatnonzero(ring[:size] < 0)[0])} is empty but the size is {size}")
        if len(ids) and next_id <= int(ids.max()):
            raise ValueError(f"the next episode id {next_id} is not past the stored ones (up to {int(ids.max())})")
        rows = np.zeros(cap, dtype=np.int64)
        refs: dict[int, int] = {}
        for slot in np.flatnonzero(ring >= 0):
            eid = int(ring[slot])
            if eid not in store.base or not 0 <= starts[slot] < store.left[store.base[eid]]:
                raise ValueError(f"ring slot {slot} points at a missing episode or step")
            rows[slot] = store.base[eid] + starts[slot]
            refs[eid] = refs.get(eid, 0) + 1
        for eid in [e for e in store.base if e not in refs]:  # no start of it left to sample
            store.drop(eid)
        # Checkpoints written before episode ages were kept: their episodes count as new.
        added = arrays["added_at"].astype(np.int64) if "added_at" in arrays else np.full(len(ids), total_added)
        if added.shape != ids.shape:
            raise ValueError(f"added_at has shape {added.shape}, expected one entry per episode ({len(ids)})")
        self._added_at = {int(e): int(a) for e, a in zip(ids, added) if int(e) in refs}
        self._store, self._refs = store, refs
        self._episode_of, self._start_of, self._row_of = ring, starts, rows
        self._priority = arrays["ring_priority"].astype(np.float64)
        self._next_slot, self._size, self._next_id, self.total_added = next_slot, size, next_id, total_added


def augment(batch: Batch, symmetries: list[Symmetry] | tuple[Symmetry, ...], rng: np.random.Generator) -> None:
    """In place: each sample seen through one of `symmetries` or the identity, drawn uniformly.

    The observation (every stacked frame, and the later observations when the
    batch has them), the unrolled actions and the policy targets are transformed; values, rewards and masks do not change under a
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
        if batch.next_obs is not None:
            later = batch.next_obs[rows]
            frames = later.reshape(later.shape[:2] + (-1, sym.obs_index.size))
            batch.next_obs[rows] = frames[..., sym.obs_index].reshape(later.shape)
        batch.actions[rows] = sym.action_map[batch.actions[rows]]
        batch.target_policies[rows] = batch.target_policies[rows][..., sym.inverse_actions]
