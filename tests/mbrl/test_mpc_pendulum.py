"""With the true Pendulum dynamics as its model, the MPC loop (CEM + warm
start, re-planning every step) swings the pendulum up and balances it: the
planner and controller are right before any model is learned."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeroplan.config import EnvConfig
from zeroplan.envs.continuous import make_continuous_env
from zeroplan.mbrl.config import PlannerConfig
from zeroplan.mbrl.planners import MPC, make_planner
from zeroplan.mbrl.rewards import pendulum_reward
from zeroplan.mbrl.rollout import run_episode

torch.set_num_threads(1)


def pendulum_step(obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Gymnasium's Pendulum-v1 physics (g=10, m=l=1, dt=0.05), batched."""
    th = torch.atan2(obs[:, 1], obs[:, 0])
    thdot = obs[:, 2]
    u = u[:, 0].clamp(-2.0, 2.0)
    thdot = (thdot + (3 * 10.0 / 2 * torch.sin(th) + 3.0 * u) * 0.05).clamp(-8.0, 8.0)
    th = th + thdot * 0.05
    return torch.stack([torch.cos(th), torch.sin(th), thdot], dim=1)


def true_returns(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    B, P, H, A = actions.shape
    state = obs[:, None, :].expand(B, P, obs.shape[1]).reshape(B * P, -1)
    total = torch.zeros(B * P)
    for t in range(H):
        a = actions[:, :, t].reshape(B * P, A)
        nxt = pendulum_step(state, a)
        total += pendulum_reward(state, a, nxt)
        state = nxt
    return total.reshape(B, P)


def test_true_dynamics_match_the_environment():
    env = make_continuous_env(EnvConfig(id="Pendulum-v1"))
    obs, rng = env.reset(seed=3), np.random.default_rng(0)
    for _ in range(50):
        a = env.sample_action(rng)
        nxt, r, _, _ = env.step(a)
        o, at = torch.as_tensor(obs[None]), torch.as_tensor(a[None])
        pred = pendulum_step(o, at)
        np.testing.assert_allclose(pred[0].numpy(), nxt, atol=1e-4)
        assert float(pendulum_reward(o, at, pred)[0]) == pytest.approx(r, abs=1e-4)
        obs = nxt


@pytest.mark.parametrize("seed", [3, 4])  # both start below the horizontal: a swing-up is needed
def test_mpc_with_the_true_model_balances_pendulum(seed):
    env = make_continuous_env(EnvConfig(id="Pendulum-v1"))
    cfg = PlannerConfig(name="cem", horizon=20, population=100, elites=10, iterations=4)
    planner = make_planner(cfg, env.low, env.high, torch.Generator().manual_seed(seed))
    mpc = MPC(planner, true_returns)
    ep = run_episode(env, seed, lambda o: mpc.act(o[None])[0])
    assert ep.obs[0, 0] < -0.5
    cos_theta = ep.obs[-50:, 0]
    assert cos_theta.min() > 0.95, "not upright over the last 50 steps"
    assert ep.ret > -400
