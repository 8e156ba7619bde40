"""How well does a Stochastic MuZero agent's model know its world's chance?

The agent plays episodes (its own greedy searches, every player's moves). For
each real transition (s, a, s') the network's afterstate of (s, a) predicts a
distribution sigma over its C chance codes, and its chance encoder names the
code of what actually happened, argmax of its softmax over (s, s'). A model
that knows the odds predicts, on average, the frequencies its encoder then
observes: the report gives per code the mean predicted probability against the
observed frequency, a reliability table (every predicted probability binned,
against how often that code was the one observed), the expected calibration
error over those bins, and the mean negative log-likelihood of the observed
codes (against log C for a uniform guess).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from zeroplan.envs.frames import stack_frames


def _transitions(agent, episodes: int, seed: int, max_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frames = agent.config.replay.stack_frames
    before, actions, after = [], [], []
    for e in range(episodes):
        env = agent.env_factory()
        history = [env.reset(seed=seed + e)]
        for _ in range(max_steps):
            obs = stack_frames(history, len(history) - 1, frames)
            a = agent.predict(obs, env.legal_mask(), to_play=env.to_play(), env=env)
            nxt, _, terminated, truncated = env.step(a)
            history.append(nxt)
            before.append(obs)
            actions.append(a)
            after.append(stack_frames(history, len(history) - 1, frames))
            if terminated or truncated:
                break
        getattr(env, "close", lambda: None)()
    return np.asarray(before, np.float32), np.asarray(actions, np.int64), np.asarray(after, np.float32)


def chance_calibration(agent, episodes: int = 10, seed: int = 0, bins: int = 10, max_steps: int = 10_000
                       ) -> dict[str, Any]:
    """The report of the module docstring for `agent` (a MuZero agent with net.chance_codes)."""
    net = agent.net
    if getattr(net, "chance", None) is None:
        raise ValueError("this agent has no chance codes (net.chance_codes 0): there is no chance model to check")
    if episodes < 1 or bins < 1:
        raise ValueError(f"episodes and bins must be >= 1, got {episodes} and {bins}")
    obs, actions, next_obs = _transitions(agent, episodes, seed, max_steps)
    param = next(net.parameters())
    with torch.inference_mode():
        x = torch.as_tensor(obs, device=param.device)
        latent = net.initial_inference(x).latent
        _, _, code_logits = net.afterstate_inference(latent, torch.as_tensor(actions, device=param.device))
        sigma = torch.softmax(code_logits.double(), dim=-1).cpu().numpy()
        _, probs = net.chance.encode(x, torch.as_tensor(next_obs, device=param.device))
        observed = probs.argmax(dim=-1).cpu().numpy()
    n, codes = sigma.shape
    counts = np.bincount(observed, minlength=codes)
    per_code = [{"code": c, "predicted": round(float(sigma[:, c].mean()), 4), "observed": round(counts[c] / n, 4),
                 "count": int(counts[c])}
                for c in range(codes) if counts[c] or sigma[:, c].mean() >= 0.01]
    hit = np.zeros_like(sigma)
    hit[np.arange(n), observed] = 1.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(sigma.ravel(), edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        if not inside.any():
            continue
        pred, freq = float(sigma.ravel()[inside].mean()), float(hit.ravel()[inside].mean())
        table.append({"bin": [round(edges[b], 3), round(edges[b + 1], 3)], "predicted": round(pred, 4),
                      "observed": round(freq, 4), "count": int(inside.sum())})
        ece += inside.sum() / sigma.size * abs(pred - freq)
    nll = float(-np.log(np.maximum(sigma[np.arange(n), observed], 1e-12)).mean())
    return {"transitions": int(n), "episodes": episodes, "seed": seed, "chance_codes": codes,
            "codes_used": int((counts > 0).sum()), "per_code": per_code, "reliability": table,
            "expected_calibration_error": round(float(ece), 4), "nll_observed_codes": round(nll, 4),
            "nll_uniform": round(math.log(codes), 4)}
