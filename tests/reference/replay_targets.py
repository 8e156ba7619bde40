"""MuZero's training targets for one sample at a time, straight from the
definitions in zeroplan.muzero.replay's docstring: a loop over the unrolled
steps of each sampled (episode, start). The replay buffer's vectorised
`batch_for` is checked against this."""

from __future__ import annotations

import numpy as np

from zeroplan.muzero.episode import Episode


def n_step_parts(ep: Episode, discount: float, td_steps: int, t: int) -> tuple[float, int, float]:
    """(discounted signed reward sum, bootstrap state index, signed bootstrap discount) for state t."""
    length = len(ep)
    m = min(td_steps, length - t)
    total = 0.0
    for i in range(m):
        sign = 1.0 if ep.to_play[t + i] == ep.to_play[t] else -1.0
        total += discount ** i * sign * float(ep.rewards[t + i])
    b = t + m
    return total, b, discount ** m * (1.0 if ep.to_play[b] == ep.to_play[t] else -1.0)


def age_horizon(td_steps: int, shrink_every: int, age: int) -> int:
    """EfficientZero's off-policy correction: the bootstrap horizon of data
    `age` transitions old loses one step per `shrink_every` (0 = never), down to 1."""
    if not shrink_every or td_steps <= 1:
        return td_steps
    return max(1, td_steps - age // shrink_every)


def stacked(ep: Episode, t: int, frames: int) -> np.ndarray:
    return np.concatenate([ep.obs[max(0, t - i)] for i in range(frames - 1, -1, -1)], axis=0)


def reference_targets(ep: Episode, t: int, unroll_steps: int, discount: float, td_steps: int, frames: int,
                      num_actions: int, value_fn=None) -> dict[str, np.ndarray]:
    """Targets of the sample starting at state t of `ep` (actions past the end are left at -1)."""
    k1 = unroll_steps + 1
    length = len(ep)
    out = {"obs": stacked(ep, t, frames), "actions": np.full(unroll_steps, -1, np.int64),
           "values": np.zeros(k1), "rewards": np.zeros(k1), "policies": np.full((k1, num_actions), 1.0 / num_actions),
           "value_mask": np.zeros(k1), "reward_mask": np.zeros(k1), "policy_mask": np.zeros(k1)}
    for k in range(k1):
        idx = t + k
        if idx <= length:  # a real state
            total, b, disc = n_step_parts(ep, discount, td_steps, idx)
            if value_fn is not None and (b < length or not ep.terminated):
                boot = float(value_fn(stacked(ep, b, frames)[None], ep.legal_masks[b][None])[0])
            else:
                boot = float(ep.root_values[b])
            out["values"][k] = total + disc * boot
            out["value_mask"][k] = 1.0
        elif ep.terminated:  # absorbing state after a real end: value 0
            out["value_mask"][k] = 1.0
        if k >= 1:
            if idx - 1 < length:
                out["rewards"][k] = ep.rewards[idx - 1]
                out["reward_mask"][k] = 1.0
            elif ep.terminated:
                out["reward_mask"][k] = 1.0  # absorbing: reward 0
        if idx < length:
            out["policies"][k] = ep.policy_targets[idx]
            out["policy_mask"][k] = 1.0
            if k < unroll_steps:
                out["actions"][k] = ep.actions[idx]
    return out
