"""Episode: the arrays one finished game leaves behind.

Replay, reanalyse, checkpoints and Ray move these arrays and nothing else.
Index t runs over states 0..T; the action at t leads to state t + 1 and earns
rewards[t], from the point of view of the player who moved (to_play[t]).

A long episode may enter replay in segments (`replay.segment_length`): each is
an `Episode` cut like a time limit, whose first `context` states repeat the
end of the segment before it, there only as the frames the states after them
stack (never a sample's start).

With Sampled MuZero (search.sampled_actions K), `codes[t]` are the K actions the
search at t sampled (mcts.sampled) and `policy_targets[t]` is over them;
`actions[t]` is the action played, as an index (discrete) or a code
(continuous; the env was given tanh(code)).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from zeroplan.envs.frames import pack_pixels


@dataclass
class Episode:
    obs: np.ndarray  # [T+1, *obs_shape]: float32, or uint8 for a pixel env (k means k/255, envs/frames.py)
    actions: np.ndarray  # int64 [T], or float32 [T, D]: continuous actions' codes u (the action is tanh(u))
    rewards: np.ndarray  # float32 [T]
    to_play: np.ndarray  # int8 [T+1]
    legal_masks: np.ndarray  # bool [T+1, A]
    root_values: np.ndarray  # float32 [T+1]; at T: 0 if terminated, else the network's value of obs[T]
    policy_targets: np.ndarray  # float32 [T+1, A]; row T is unused (no search at the last state)
    terminated: bool  # False when the episode was cut by a time limit (the value past T is not 0)
    codes: np.ndarray | None = None  # [T+1, K, ...] sampled search only; row T is unused
    context: int = 0  # leading states kept only as frames for the ones after them (a segment), 0 <= context < T

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())

    def validate(self) -> None:
        t = len(self.actions)
        expected = {"obs": t + 1, "rewards": t, "to_play": t + 1, "legal_masks": t + 1, "root_values": t + 1,
                    "policy_targets": t + 1}
        if self.codes is not None:
            expected["codes"] = t + 1
            if self.codes.shape[1:2] != self.policy_targets.shape[1:]:
                raise ValueError(f"episode codes have shape {self.codes.shape}, the policy targets "
                                 f"{self.policy_targets.shape}: one code per target")
        for name, n in expected.items():
            if len(getattr(self, name)) != n:
                raise ValueError(f"episode field {name} has length {len(getattr(self, name))}, expected {n}")
        if self.context and not 0 < self.context < t:
            raise ValueError(f"episode context {self.context} leaves no state to learn from in {t} moves")

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays, for .npz files (no pickle) and transport."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("terminated", "context") and getattr(self, f.name) is not None}
        out["terminated"] = np.array(self.terminated)
        if self.context:
            out["context"] = np.array(self.context, np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Episode:
        kwargs = {f.name: np.asarray(arrays[f.name]) for f in fields(cls)
                  if f.name not in ("terminated", "context") and f.name in arrays}
        ep = cls(**kwargs, terminated=bool(arrays["terminated"]), context=int(arrays.get("context", 0)))
        ep.validate()
        return ep


class EpisodeBuilder:
    """Collects one episode step by step during self-play; a pixel env's
    observations are kept as uint8 (`pixels`)."""

    def __init__(self, obs: np.ndarray, legal_mask: np.ndarray, to_play: int, pixels: bool = False):
        self.pixels = pixels
        self.obs = [self.keep(obs)]
        self.legal = [legal_mask]
        self.to_play = [to_play]
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.values: list[float] = []
        self.policies: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []  # sampled search only

    def __len__(self) -> int:
        return len(self.actions)

    def keep(self, obs: np.ndarray) -> np.ndarray:
        """An observation as this episode stores it: uint8 for a pixel env, else
        float32 (so a stored uint8 array always means pixels, whatever the env's
        own dtype)."""
        return pack_pixels(obs) if self.pixels else np.asarray(obs, dtype=np.float32)

    def record_search(self, root_value: float, policy: np.ndarray, codes: np.ndarray | None = None) -> None:
        self.values.append(root_value)
        self.policies.append(policy)
        if codes is not None:
            self.codes.append(codes)

    def record_step(self, action: int, reward: float, obs: np.ndarray, legal_mask: np.ndarray, to_play: int) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.obs.append(self.keep(obs))
        self.legal.append(legal_mask)
        self.to_play.append(to_play)

    def undo_step(self) -> None:
        """Forget the last recorded move (search and step)."""
        for seq in (self.values, self.policies, self.actions, self.rewards, self.obs, self.legal, self.to_play):
            seq.pop()
        if self.codes:
            self.codes.pop()

    def arrays(self) -> dict[str, np.ndarray]:
        """The episode so far as plain arrays (for resuming)."""
        num_actions = len(self.legal[0])
        extra = {"codes": np.stack(self.codes)} if self.codes else {}
        return {**extra, "obs": np.stack(self.obs), "legal": np.stack(self.legal).astype(bool),
                "to_play": np.asarray(self.to_play, dtype=np.int8), "actions": self._actions(),
                "rewards": np.asarray(self.rewards, np.float64), "values": np.asarray(self.values, np.float64),
                "policies": np.stack(self.policies).astype(np.float32) if self.policies
                else np.zeros((0, num_actions), np.float32)}

    def _actions(self) -> np.ndarray:
        """int64 indices, or float32 codes [T, D] for continuous actions."""
        if self.actions and np.ndim(self.actions[0]):
            return np.stack(self.actions).astype(np.float32)
        return np.asarray(self.actions, dtype=np.int64)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], pixels: bool = False) -> EpisodeBuilder:
        t = len(arrays["actions"])
        for name, n in (("obs", t + 1), ("legal", t + 1), ("to_play", t + 1), ("rewards", t), ("values", t),
                        ("policies", t)):
            if len(arrays[name]) != n:
                raise ValueError(f"partial episode field {name} has length {len(arrays[name])}, expected {n}")
        b = cls(arrays["obs"][0], arrays["legal"][0], int(arrays["to_play"][0]), pixels)
        b.obs = [b.keep(o) for o in arrays["obs"]]
        b.legal = list(arrays["legal"])
        b.to_play = [int(p) for p in arrays["to_play"]]
        b.actions = list(arrays["actions"]) if arrays["actions"].ndim > 1 else [int(a) for a in arrays["actions"]]
        b.rewards = [float(r) for r in arrays["rewards"]]
        b.values = [float(v) for v in arrays["values"]]
        b.policies = list(arrays["policies"])
        if "codes" in arrays:
            if len(arrays["codes"]) != t:
                raise ValueError(f"partial episode field codes has length {len(arrays['codes'])}, expected {t}")
            b.codes = list(arrays["codes"])
        return b

    def finish(self, terminated: bool, final_value: float, start: int = 0, context: int = 0) -> Episode:
        """The episode from state `start` on (a segment when `start` > 0 or the
        episode goes on), with the `context` states before `start` as frames."""
        lo = start - context
        num_actions = len(self.policies[0]) if self.policies else len(self.legal[0])
        policies = self.policies[lo:] + [np.full(num_actions, 1.0 / num_actions)]
        codes = np.stack(self.codes[lo:] + [np.zeros_like(self.codes[0])]) if self.codes else None
        ep = Episode(
            obs=np.stack(self.obs[lo:]),
            actions=self._actions()[lo:],
            rewards=np.asarray(self.rewards[lo:], dtype=np.float32),
            to_play=np.asarray(self.to_play[lo:], dtype=np.int8),
            legal_masks=np.stack(self.legal[lo:]).astype(bool),
            root_values=np.asarray(self.values[lo:] + [0.0 if terminated else final_value], dtype=np.float32),
            policy_targets=np.stack(policies).astype(np.float32),
            terminated=terminated,
            codes=codes,
            context=context,
        )
        ep.validate()
        return ep
