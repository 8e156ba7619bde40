"""Planners on known objectives, trajectory sampling on a hand-built ensemble,
and the MPC warm start."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeroplan.mbrl.config import PlannerConfig
from zeroplan.mbrl.ensemble import ProbabilisticEnsemble
from zeroplan.mbrl.planners import CEM, MPC, Plan, RandomShooting, TrajectorySampler, make_planner

torch.set_num_threads(1)

LOW, HIGH = np.array([-2.0, -1.0], np.float32), np.array([2.0, 1.0], np.float32)


def quadratic(target: torch.Tensor):
    """Return = -||a - target||^2 over the whole sequence; obs is ignored."""
    return lambda obs, actions: -((actions - target[:, None]) ** 2).sum(dim=(-1, -2))


def test_cem_finds_the_optimum_of_a_quadratic():
    gen = torch.Generator().manual_seed(0)
    target = torch.tensor(np.random.default_rng(0).uniform(LOW * 0.9, HIGH * 0.9, size=(3, 6, 2)), dtype=torch.float32)
    cem = CEM(PlannerConfig(horizon=6, population=300, elites=30, iterations=15), LOW, HIGH, gen)
    plan = cem.optimize(quadratic(target), torch.zeros(3, 1), cem.initial_mean(3))
    assert plan.actions.shape == (3, 6, 2)
    assert torch.abs(plan.actions - target).max() < 0.03
    assert plan.std.max() < 0.05  # the distribution has collapsed on the optimum


def test_cem_keeps_every_sample_inside_the_action_box():
    gen = torch.Generator().manual_seed(1)
    target = torch.tensor([[[5.0, -5.0]] * 4])  # outside the box: the optimum is the nearest corner
    seen = []

    def objective(obs, actions):
        seen.append(actions)
        return quadratic(target)(obs, actions)

    cem = CEM(PlannerConfig(horizon=4, population=200, elites=20, iterations=12), LOW, HIGH, gen)
    plan = cem.optimize(objective, torch.zeros(1, 1), cem.initial_mean(1))
    low, high = torch.as_tensor(LOW), torch.as_tensor(HIGH)
    for samples in seen + [plan.actions]:
        assert (samples >= low).all() and (samples <= high).all()
    # heading for the corner (CEM may stall a little short of it as its variance collapses)
    assert (plan.actions[..., 0] > 1.5).all() and (plan.actions[..., 1] < -0.75).all()


def test_random_shooting_samples_inside_the_box_and_keeps_the_best():
    gen = torch.Generator().manual_seed(2)
    seen = []

    def objective(obs, actions):
        seen.append(actions.clone())
        return quadratic(torch.tensor([[[0.5, 0.25]]]))(obs, actions)

    rs = RandomShooting(PlannerConfig(horizon=1, population=500, iterations=2, elites=1), LOW, HIGH, gen)
    plan = rs.optimize(objective, torch.zeros(1, 1), rs.initial_mean(1))
    samples = seen[0]
    assert samples.shape == (1, 1000, 1, 2)
    assert (samples >= torch.as_tensor(LOW)).all() and (samples <= torch.as_tensor(HIGH)).all()
    best = objective(None, samples).argmax()
    torch.testing.assert_close(plan.actions[0], samples[0, best])
    assert torch.abs(plan.actions - torch.tensor([0.5, 0.25])).max() < 0.15


def test_cem_ignores_diverged_rollouts():
    gen = torch.Generator().manual_seed(3)
    target = torch.zeros(1, 3, 2)

    def objective(obs, actions):
        r = quadratic(target)(obs, actions)
        return torch.where(actions[..., 0, 0] > 0.5, torch.full_like(r, float("nan")), r)

    cem = CEM(PlannerConfig(horizon=3, population=100, elites=10, iterations=5), LOW, HIGH, gen)
    plan = cem.optimize(objective, torch.zeros(1, 1), cem.initial_mean(1))
    assert torch.isfinite(plan.actions).all() and torch.abs(plan.actions).max() < 0.1


def _step_ensemble(deltas: list[float]) -> ProbabilisticEnsemble:
    """Member e adds deltas[e] to the 1-D state, with (almost) no noise."""
    model = ProbabilisticEnsemble(2, 1, ensemble_size=len(deltas), hidden=4, layers=1)
    with torch.no_grad():
        for w in model.weights:
            w.zero_()
        for b in model.biases:
            b.zero_()
        model.biases[-1][:, 0, 0] = torch.tensor(deltas)
        model.max_logvar.fill_(-29.0)
        model.min_logvar.fill_(-30.0)
    return model


@pytest.mark.parametrize("propagation", ["ts1", "tsinf"])
def test_trajectory_sampling_keeps_or_redeals_members(propagation):
    model = _step_ensemble([0.0, 1.0])
    H = 6
    sampler = TrajectorySampler(model, 1, lambda s, a, nxt: nxt[:, 0] ** 2, propagation, particles=2,
                                generator=torch.Generator().manual_seed(0))
    returns = sampler(torch.zeros(1, 1), torch.zeros(1, 64, H, 1))
    ts1 = sum(t ** 2 for t in range(1, H + 1)) / 2  # one particle rides +1 throughout, the other 0
    if propagation == "ts1":
        torch.testing.assert_close(returns, torch.full((1, 64), ts1), atol=1e-3, rtol=0)
    else:  # every step, one of the two particles gets the +1: the spread, and so the return, is smaller
        assert (returns < ts1 - 0.5).float().mean() > 0.9
        # the total displacement is still t at step t: sum of particle states is exact
        assert returns.min() >= sum(t ** 2 / 4 for t in range(1, H + 1)) - 1e-3


def test_known_termination_ends_a_particle_s_rewards():
    """Members move the state by 0 and +1 per step; the episode ends on
    arriving above 2.5, and a step earns 1 unless it ends the episode (the
    InvertedPendulum rule). The +1 particle earns steps 1 and 2 only (step 3
    arrives at 3 and ends it), the still one all H steps."""
    model = _step_ensemble([0.0, 1.0])
    done = lambda nxt: nxt[:, 0] > 2.5  # noqa: E731
    alive_reward = lambda s, a, nxt: (~done(nxt)).float()  # noqa: E731
    H = 6
    sampler = TrajectorySampler(model, 1, alive_reward, "ts1", particles=2,
                                generator=torch.Generator().manual_seed(0), done_fn=done)
    returns = sampler(torch.zeros(1, 1), torch.zeros(1, 4, H, 1))
    torch.testing.assert_close(returns, torch.full((1, 4), (H + 2) / 2), atol=1e-4, rtol=0)
    # with a reward of 1 on every step, the rule is what stops the moving particle earning:
    # it earns steps 1-3 (the step that ends it counts), the still one all H
    ones = lambda s, a, nxt: torch.ones(len(s))  # noqa: E731
    ended = TrajectorySampler(model, 1, ones, "ts1", particles=2, done_fn=done)(torch.zeros(1, 1),
                                                                                torch.zeros(1, 4, H, 1))
    endless = TrajectorySampler(model, 1, ones, "ts1", particles=2)(torch.zeros(1, 1), torch.zeros(1, 4, H, 1))
    torch.testing.assert_close(ended, torch.full((1, 4), (H + 3) / 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(endless, torch.full((1, 4), float(H)), atol=1e-4, rtol=0)


def test_state_cost_lowers_each_alive_step_by_the_weighted_squares():
    """Members move the state by 0 and +1 per step; with a cost of 0.5 on the
    state, the +1 particle pays 0.5 t^2 at step t, the still one nothing; with
    the termination rule the cost stops with the rewards."""
    model = _step_ensemble([0.0, 1.0])
    ones = lambda s, a, nxt: torch.ones(len(s))  # noqa: E731
    H = 4
    cost = torch.tensor([0.5])
    plain = TrajectorySampler(model, 1, ones, "ts1", particles=2, state_cost=cost)(torch.zeros(1, 1),
                                                                                   torch.zeros(1, 3, H, 1))
    paid = 0.5 * sum(t ** 2 for t in range(1, H + 1))
    torch.testing.assert_close(plain, torch.full((1, 3), H - paid / 2), atol=1e-4, rtol=0)
    done = lambda nxt: nxt[:, 0] > 2.5  # noqa: E731
    ended = TrajectorySampler(model, 1, ones, "ts1", particles=2, done_fn=done, state_cost=cost)(
        torch.zeros(1, 1), torch.zeros(1, 3, H, 1))
    paid_until_end = 0.5 * (1 + 4 + 9)  # steps 1-3; step 3 ends the episode and still counts
    torch.testing.assert_close(ended, torch.full((1, 3), (H + 3 - paid_until_end) / 2), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="one weight per observation dimension"):
        TrajectorySampler(model, 1, ones, "ts1", particles=2, state_cost=torch.tensor([0.5, 0.5]))


def test_state_cost_is_validated():
    with pytest.raises(ValueError, match="state_cost weights must be finite and >= 0"):
        PlannerConfig(state_cost=[0.1, -1.0])
    assert PlannerConfig(state_cost=[0.1, 0.0]).state_cost == [0.1, 0.0]


def test_inverted_pendulum_rule_matches_gymnasium():
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("mujoco")
    from zeroplan.mbrl.rewards import inverted_pendulum_done, inverted_pendulum_reward

    env = gym.make("InvertedPendulum-v5")
    rng = np.random.default_rng(0)
    checked = 0
    for ep in range(20):
        obs, _ = env.reset(seed=ep)
        while True:
            a = rng.uniform(-3, 3, size=1).astype(np.float32)
            nxt, r, terminated, truncated, _ = env.step(a)
            t = torch.as_tensor(np.asarray(nxt, np.float32))[None]
            assert bool(inverted_pendulum_done(t)[0]) == terminated
            assert float(inverted_pendulum_reward(t, torch.as_tensor(a)[None], t)[0]) == r
            checked += 1
            if terminated or truncated:
                break
    assert checked > 20


def test_trajectory_sampling_with_learned_reward_and_batches():
    model = ProbabilisticEnsemble(3, 3, ensemble_size=2, hidden=8, layers=2)  # obs 2 + action 1 -> delta 2 + reward
    sampler = TrajectorySampler(model, 2, None, "ts1", particles=4, generator=torch.Generator().manual_seed(0))
    returns = sampler(torch.randn(3, 2), torch.randn(3, 5, 7, 1))
    assert returns.shape == (3, 5) and torch.isfinite(returns).all()


class _Recorder:
    """A planner stand-in that records the warm start it is given."""

    def __init__(self, cfg):
        self.inner = make_planner(cfg, LOW, HIGH, torch.Generator().manual_seed(0))
        self.generator = self.inner.generator
        self.inits = []

    def initial_mean(self, batch):
        return self.inner.initial_mean(batch)

    def clip(self, x):
        return self.inner.clip(x)

    def optimize(self, objective, obs, init):
        self.inits.append(init.clone())
        plan = torch.arange(init.numel(), dtype=torch.float32).reshape(init.shape) / 100
        return Plan(plan, None)


def test_mpc_warm_start_shifts_the_previous_plan():
    rec = _Recorder(PlannerConfig(horizon=4))
    mpc = MPC(rec, lambda obs, actions: actions.sum(dim=(-1, -2)))
    first = mpc.act(np.zeros((2, 1)))
    mpc.act(np.zeros((2, 1)))
    previous = torch.arange(16, dtype=torch.float32).reshape(2, 4, 2) / 100
    torch.testing.assert_close(first, previous[:, 0].numpy())
    torch.testing.assert_close(rec.inits[1][:, :-1], previous[:, 1:])
    torch.testing.assert_close(rec.inits[1][:, -1], rec.initial_mean(2)[:, -1])  # the new tail: box middle
    mpc.keep_rows([1])
    mpc.act(np.zeros((1, 1)))
    torch.testing.assert_close(rec.inits[2][0, :-1], previous[1, 1:])
    mpc.reset()
    mpc.act(np.zeros((1, 1)))
    torch.testing.assert_close(rec.inits[3], rec.initial_mean(1))
