"""Replay's storage: the stored episodes end to end in flat arrays, with the
parts of the value targets that do not depend on the network computed once,
when an episode is added (replay.py says what the targets are)."""

from __future__ import annotations

import numpy as np

from zeroplan.envs.frames import pack_pixels, unpack_pixels
from zeroplan.muzero.episode import Episode


def _n_step_parts(rewards: np.ndarray, to_play: np.ndarray, discount: float, td_steps: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each state t = 0..T of one episode: the signed discounted sum of the
    next m = min(n, T - t) rewards, m itself, and the signed discount gamma^m s_m
    of the bootstrap value (signs from the point of view of the player at t)."""
    length = len(rewards)
    t_all = np.arange(length + 1)
    m = np.minimum(td_steps, length - t_all)
    prefix = np.zeros(length + 1)
    width = min(td_steps, length)
    if width > 0:
        powers = discount ** np.arange(width)
        block = max(1, 1_000_000 // width)  # bounds the [block, width] temporaries
        for lo in range(0, length + 1, block):
            t = t_all[lo:lo + block]
            idx = t[:, None] + np.arange(width)[None, :]
            valid = idx < t[:, None] + m[lo:lo + block, None]
            r = np.where(valid, rewards[np.minimum(idx, length - 1)], 0.0)
            signs = np.where(to_play[np.minimum(idx, length)] == to_play[t][:, None], 1.0, -1.0)
            prefix[lo:lo + block] = (powers * signs * r).sum(axis=1)
    boot_discount = discount ** m.astype(np.float64) * np.where(to_play[t_all + m] == to_play, 1.0, -1.0)
    return prefix, m, boot_discount


class EpisodeStore:
    """The stored episodes end to end in flat arrays, one row per state (T + 1
    rows per episode), with the network-independent parts of the value targets
    per row; sampling is fancy indexing. Rows of dropped episodes are reclaimed
    by compacting when the arrays are full; they grow by half when more than
    three quarters would stay in use, so they hold at most about twice the live
    rows and each row is copied a few times over its life."""

    STATE_FIELDS = ("obs", "to_play", "legal_masks", "root_values", "policy_targets")

    def __init__(self, num_actions: int, discount: float, td_steps: int, policy_size: int | None = None,
                 pixels: bool = False):
        self.num_actions = num_actions
        self.pixels = pixels  # observations kept as uint8, whatever the first episode added holds
        self.policy_size = num_actions if policy_size is None else policy_size  # K with a sampled search
        self.discount = discount
        self.td_steps = td_steps
        self.rows = 0  # rows in use (live or dead)
        self.live_rows = 0
        self.base: dict[int, int] = {}  # episode id -> first row, in id (= row) order
        self.arrays: dict[str, np.ndarray] = {}
        self.moves = 0  # compactions so far; rows kept their place between two
        self.remap = np.zeros(0, np.int64)  # old row -> new row, for the last compaction

    def _allocate(self, capacity: int, rows: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, np.ndarray]:
        """Arrays of `capacity` rows. `rows` gives the per-row shape and dtype of the
        fields that depend on the env: observations, actions (an index, or a
        continuous action's code vector) and, with a sampled search, codes."""
        a = self.num_actions
        out = {name: np.zeros((capacity,) + shape, dtype) for name, (shape, dtype) in rows.items()}
        return {**out, "to_play": np.zeros(capacity, np.int8), "legal_masks": np.zeros((capacity, a), bool),
                "root_values": np.zeros(capacity, np.float32),
                "policy_targets": np.zeros((capacity, self.policy_size), np.float32),
                "rewards": np.zeros(capacity, np.float32),
                "t": np.zeros(capacity, np.int64), "left": np.zeros(capacity, np.int64),
                "terminated": np.zeros(capacity, bool), "prefix": np.zeros(capacity),
                "boot_steps": np.zeros(capacity, np.int64), "boot_discount": np.zeros(capacity)}

    def _row_layout(self, ep: Episode) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        # (an older checkpoint of a pixel run holds float32 frames: they are packed as they enter)
        obs_dtype = np.dtype(np.uint8) if self.pixels else ep.obs.dtype
        layout = {"obs": (ep.obs.shape[1:], obs_dtype), "actions": (ep.actions.shape[1:], ep.actions.dtype)}
        if ep.codes is not None:
            layout["codes"] = (ep.codes.shape[1:], ep.codes.dtype)
        return layout

    def _layout(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {name: (self.arrays[name].shape[1:], self.arrays[name].dtype) for name in ("obs", "actions", "codes")
                if name in self.arrays}

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def add(self, eid: int, ep: Episode) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Append an episode; returns its first row and its per-state (prefix, m, boot discount)."""
        n = len(ep) + 1
        # Everything that can be wrong with the episode is checked before the store changes.
        for name, width in (("legal_masks", self.num_actions), ("policy_targets", self.policy_size)):
            if getattr(ep, name).shape[1:] != (width,):
                raise ValueError(f"episode field {name} has shape {getattr(ep, name).shape}, "
                                 f"expected ({n}, {width})")
        if not self.arrays:
            self.arrays = self._allocate(max(1024, 2 * n), self._row_layout(ep))
        elif ep.obs.shape[1:] != self.obs.shape[1:]:
            raise ValueError(f"episode observations have shape {ep.obs.shape[1:]}, "
                             f"the stored ones {self.obs.shape[1:]}")
        layout = {name: shape for name, (shape, _) in self._row_layout(ep).items()}
        if layout != {name: shape for name, (shape, _) in self._layout().items()}:
            raise ValueError(f"episode actions and sampled-action codes have shapes {layout}, the stored ones "
                             f"{ {name: shape for name, (shape, _) in self._layout().items()} } (a sampled "
                             "search's episodes carry codes, others do not)")
        if self.rows + n > len(self.obs):
            self._make_room(n)
        lo, hi = self.rows, self.rows + n
        arr = self.arrays
        for name in self.STATE_FIELDS[1:]:
            arr[name][lo:hi] = getattr(ep, name)
        # pixels are kept as uint8; an episode saved the other way (an older checkpoint) is converted
        arr["obs"][lo:hi] = pack_pixels(ep.obs) if arr["obs"].dtype == np.uint8 else unpack_pixels(ep.obs)
        if ep.codes is not None:
            arr["codes"][lo:hi] = ep.codes
        arr["actions"][lo:hi - 1] = ep.actions
        arr["actions"][hi - 1] = 0
        arr["rewards"][lo:hi - 1] = ep.rewards
        arr["rewards"][hi - 1] = 0.0
        arr["t"][lo:hi] = np.arange(n)
        arr["left"][lo:hi] = np.arange(n - 1, -1, -1)
        arr["terminated"][lo:hi] = ep.terminated
        prefix, m, disc = _n_step_parts(ep.rewards, ep.to_play, self.discount, self.td_steps)
        arr["prefix"][lo:hi], arr["boot_steps"][lo:hi], arr["boot_discount"][lo:hi] = prefix, m, disc
        self.base[eid] = lo
        self.rows = hi
        self.live_rows += n
        return lo, prefix, m, disc

    def n_step_parts(self, rows: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored (prefix, bootstrap row, bootstrap discount) of `rows`
        computed for other horizons than replay.td_steps (`horizons`
        broadcast against `rows`), by the definition `_n_step_parts` follows."""
        horizons = np.broadcast_to(horizons, rows.shape)
        left = self.left[rows]
        m = np.minimum(horizons, left)
        width = max(int(m.max(initial=0)), 1)
        i = np.arange(width)
        idx = np.minimum(rows[..., None] + i, (rows + left)[..., None])  # never past the episode's last state
        r = np.where(i < m[..., None], self.rewards[idx], 0.0)
        signs = np.where(self.to_play[idx] == self.to_play[rows][..., None], 1.0, -1.0)
        prefix = (self.discount ** i * signs * r).sum(-1)
        boot = rows + m
        disc = self.discount ** m.astype(np.float64) * np.where(self.to_play[boot] == self.to_play[rows], 1.0, -1.0)
        return prefix, boot, disc

    def drop(self, eid: int) -> None:
        lo = self.base.pop(eid)
        self.live_rows -= int(self.left[lo]) + 1

    def _make_room(self, n: int) -> None:
        capacity = len(self.obs)
        if self.live_rows + n > 3 * capacity // 4:  # compacting alone would leave it nearly full
            capacity = max(capacity + capacity // 2, 3 * (self.live_rows + n) // 2)
        keep = self.live_row_index()
        if capacity != len(self.obs):  # into new arrays: no temporary copy of the live rows
            grown = self._allocate(capacity, self._layout())
            for name, values in self.arrays.items():
                np.take(values, keep, axis=0, out=grown[name][:len(keep)])
            self.arrays = grown
        else:
            for name, values in self.arrays.items():
                values[:len(keep)] = values[keep]
        self.moves += 1
        self.remap = np.full(self.rows, -1, np.int64)
        self.remap[keep] = np.arange(len(keep))
        self.base = {eid: int(self.remap[lo]) for eid, lo in self.base.items()}
        self.rows = len(keep)

    def live_row_index(self, states: bool = True) -> np.ndarray:
        """Rows of the stored episodes in id order (without each one's last row when `states` is False)."""
        if not self.base:
            return np.zeros(0, np.int64)
        lo = np.fromiter(self.base.values(), np.int64, len(self.base))
        n = self.left[lo] + (1 if states else 0)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
        return starts + np.arange(int(n.sum()))

    def episode(self, eid: int) -> Episode:
        """The episode as views of the stored rows (writes go to the store)."""
        lo = self.base[eid]
        hi = lo + int(self.left[lo]) + 1
        return Episode(obs=self.obs[lo:hi], actions=self.actions[lo:hi - 1], rewards=self.rewards[lo:hi - 1],
                       to_play=self.to_play[lo:hi], legal_masks=self.legal_masks[lo:hi],
                       root_values=self.root_values[lo:hi], policy_targets=self.policy_targets[lo:hi],
                       terminated=bool(self.terminated[lo]),
                       codes=self.arrays["codes"][lo:hi] if "codes" in self.arrays else None)

    def stacked_obs(self, rows: np.ndarray, frames: int) -> np.ndarray:
        """Observations at `rows` with the frames before them within their episode, as
        `stack_frames` does, as float32 (uint8 pixels turned back into k/255)."""
        if frames == 1:
            return unpack_pixels(self.obs[rows])
        back = np.arange(frames - 1, -1, -1)  # oldest first
        frame_rows = rows[..., None] - np.minimum(self.t[rows][..., None], back)
        out = self.obs[frame_rows]  # [..., frames, *obs_shape]
        shape = rows.shape + (frames * self.obs.shape[1],) + self.obs.shape[2:]
        return unpack_pixels(out.reshape(shape))
