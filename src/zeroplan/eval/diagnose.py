"""How far can the learned model be trusted? Open-loop k-step predictions of a
PETS agent's ensemble against a real trajectory.

The trajectory is played by the agent itself (MPC with its own model), so the
states are the ones its planner actually visits. From every real state s_t,
each member rolls forward k steps on the real actions a_t..a_{t+k-1} using its
predicted *mean* (no sampling, so the figure is reproducible), and the members'
average is compared with s_{t+k}. Errors that grow quickly with k mean that
the planning horizon outruns the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeroplan.mbrl.rollout import run_episode


@torch.no_grad()
def open_loop_predictions(ensemble, obs: np.ndarray, actions: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each k: [T+1, d] predictions of obs[t] made k steps earlier from
    obs[t-k] (nan where t < k). All starts are rolled together as one batch."""
    T, d = len(actions), obs.shape[1]
    E = ensemble.ensemble_size
    acts = torch.as_tensor(np.concatenate([actions, np.zeros((max(ks), actions.shape[1]), np.float32)]))
    state = torch.as_tensor(obs[:T]).expand(E, T, d).clone()
    out = {k: np.full((T + 1, d), np.nan, np.float32) for k in ks}
    for j in range(1, max(ks) + 1):
        x = torch.cat([state, acts[j - 1:j - 1 + T].expand(E, T, -1)], dim=-1)
        mean, _ = ensemble.predict(x)
        state = state + mean[..., :d]
        if j in out and j <= T:
            out[j][j:] = state.mean(0)[: T + 1 - j].numpy()
    return out


def diagnose(agent, seed: int = 0, ks: tuple[int, ...] = (1, 5, 10, 20), plot: str | Path | None = None) -> dict[str, Any]:
    """Play one episode with `agent` (a trained PETS) from `seed`; return the
    mean absolute k-step error for each k (None where the episode is shorter
    than k), per state dimension too, and draw the plot if `plot` is a path."""
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive step counts, got {ks}")
    env = agent.env_factory()
    agent.reset()
    ep = run_episode(env, seed, lambda o: agent.predict(o))
    env.close()
    preds = open_loop_predictions(agent.ensemble, ep.obs, ep.actions, ks)
    errors, per_dim = {}, {}
    for k in ks:
        diff = np.abs(preds[k] - ep.obs)[k:]
        ok = len(diff) > 0 and np.isfinite(diff).all()
        errors[k] = float(diff.mean()) if ok else None
        per_dim[k] = [float(v) for v in diff.mean(0)] if ok else None
    report: dict[str, Any] = {"k_step_error": errors, "k_step_error_per_dim": per_dim, "steps": len(ep),
                              "episode_return": ep.ret, "seed": seed, "plot": None}
    if plot is not None:
        report["plot"] = str(draw(ep.obs, preds, Path(plot), agent.spec.name))
    return report


def draw(real: np.ndarray, preds: dict[int, np.ndarray], path: Path, title: str = "") -> Path:
    """One panel per state dimension: the real trajectory and each k-step
    prediction. Uses the Agg canvas directly, never pyplot, so nothing global
    (backend, open figures) changes in the caller's process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    d = real.shape[1]
    fig = Figure(figsize=(9, 2.2 * d), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(d, 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(len(real))
    for i, ax in enumerate(axes):
        ax.plot(t, real[:, i], color="black", linewidth=2, label="real")
        for k, p in preds.items():
            ax.plot(t, p[:, i], linewidth=1, alpha=0.8, label=f"{k}-step")
        ax.set_ylabel(f"obs[{i}]")
    axes[0].legend(loc="best", fontsize="small", ncol=len(preds) + 1)
    axes[0].set_title(f"{title}: open-loop k-step predictions (ensemble mean) vs real")
    axes[-1].set_xlabel("step")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
