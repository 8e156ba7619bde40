"""Model-predictive control over action sequences: random shooting and the
cross-entropy method, plus trajectory sampling through the ensemble.

The planners know nothing of models: they maximise a batched objective
`objective(obs [B, d], actions [B, P, H, A]) -> returns [B, P]` over sequences
inside the action box. That keeps them testable on a known cost, and lets
the MPC run on the true dynamics as easily as on the learned ensemble.
`TrajectorySampler` is the objective PETS uses: the mean return of particles
propagated through the ensemble (TS-1 / TS-inf, Chua et al. 2018, sec. 5).
Everything is batched in torch: B states x P candidates x K particles go
through the ensemble as one [E, B*P*K/E, in] batch per planning step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from zeroplan.mbrl.config import PlannerConfig
from zeroplan.mbrl.ensemble import ProbabilisticEnsemble
from zeroplan.mbrl.rewards import RewardFn, TerminationFn

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrajectorySampler:
    """Expected return of action sequences under the ensemble.

    Each candidate carries K particles, K/E per member. TS-1 keeps a particle
    on its member for the whole horizon; TS-inf re-deals the particles to
    members at every step. Particles of one candidate share their actions and
    only their mean return matters, so re-dealing is a shuffle along the
    particle axis: nothing has to be un-shuffled afterwards.
    """

    def __init__(self, ensemble: ProbabilisticEnsemble, obs_dim: int, reward_fn: RewardFn | None,
                 propagation: str = "ts1", particles: int = 20, generator: torch.Generator | None = None,
                 done_fn: TerminationFn | None = None, state_cost: torch.Tensor | None = None):
        if particles % ensemble.ensemble_size:
            raise ValueError(f"particles ({particles}) must be a multiple of the ensemble size "
                             f"({ensemble.ensemble_size})")
        if propagation not in ("ts1", "tsinf"):
            raise ValueError(f"propagation must be 'ts1' or 'tsinf', got {propagation!r}")
        self.ensemble, self.obs_dim, self.reward_fn = ensemble, obs_dim, reward_fn
        self.propagation, self.particles, self.generator = propagation, particles, generator
        self.done_fn = done_fn
        if state_cost is not None and state_cost.shape != (obs_dim,):
            raise ValueError(f"state_cost needs one weight per observation dimension ({obs_dim}), "
                             f"got shape {tuple(state_cost.shape)}")
        self.state_cost = state_cost

    def __call__(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        B, P, H, A = actions.shape
        K, E, d = self.particles, self.ensemble.ensemble_size, self.obs_dim
        M = B * P
        state = obs[:, None, None, :].expand(B, P, K, d).reshape(M, K, d)
        total = torch.zeros(M, dtype=state.dtype)
        # 0 once a particle's episode has ended; only kept with a termination rule
        alive = torch.ones(M, K, dtype=state.dtype) if self.done_fn is not None else None
        for t in range(H):
            if self.propagation == "tsinf":
                perm = torch.argsort(torch.rand(M, K, generator=self.generator), dim=1)
                state = torch.gather(state, 1, perm[..., None].expand(M, K, d))
            act = actions[:, :, t, :].reshape(M, 1, A).expand(M, K, A)
            x = torch.cat([state, act], dim=-1)
            # particle k rides member k % E: [M, K/E, E, in] -> [E, M*K/E, in]
            xe = x.reshape(M, K // E, E, d + A).permute(2, 0, 1, 3).reshape(E, M * (K // E), d + A)
            out = self.ensemble.sample(xe, self.generator)
            out = out.reshape(E, M, K // E, -1).permute(1, 2, 0, 3).reshape(M, K, -1)
            nxt = state + out[..., :d]
            if self.reward_fn is None:
                reward = out[..., d]
            else:
                reward = self.reward_fn(state.reshape(-1, d), act.reshape(-1, A), nxt.reshape(-1, d)).reshape(M, K)
            if self.state_cost is not None:
                reward = reward - (nxt * nxt) @ self.state_cost
            if alive is None:
                total += reward.mean(dim=1)
            else:
                total += (reward * alive).mean(dim=1)
                alive = alive * (~self.done_fn(nxt.reshape(-1, d))).reshape(M, K).to(alive.dtype)
            state = nxt
        return total.reshape(B, P)


@dataclass
class Plan:
    actions: torch.Tensor  # [B, H, A], the sequence to follow
    std: torch.Tensor | None  # [B, H, A], CEM's final spread (None for random shooting)


def _finite(returns: torch.Tensor) -> torch.Tensor:
    """A diverged rollout (nan/inf) must lose, not poison the elite statistics."""
    return torch.where(torch.isfinite(returns), returns, torch.full_like(returns, -float("inf")))


class _Box:
    def __init__(self, cfg: PlannerConfig, low: np.ndarray, high: np.ndarray, generator: torch.Generator | None):
        self.cfg = cfg
        self.low = torch.as_tensor(np.asarray(low, np.float32))
        self.high = torch.as_tensor(np.asarray(high, np.float32))
        self.generator = generator

    def initial_mean(self, batch: int) -> torch.Tensor:
        mid = (self.low + self.high) / 2
        return mid.expand(batch, self.cfg.horizon, len(mid)).clone()

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, self.low, self.high)


class CEM(_Box):
    """Cross-entropy method: refit a diagonal Gaussian over whole sequences to
    the elites, keeping `alpha` of the old statistics (momentum)."""

    def optimize(self, objective: Objective, obs: torch.Tensor, init_mean: torch.Tensor) -> Plan:
        cfg = self.cfg
        B, H, A = init_mean.shape
        mean = init_mean.clone()
        std = (cfg.init_std * (self.high - self.low) / 2).expand(B, H, A).clone()
        for _ in range(cfg.iterations):
            noise = torch.randn(B, cfg.population, H, A, generator=self.generator)
            samples = self.clip(mean[:, None] + std[:, None] * noise)
            returns = _finite(objective(obs, samples))
            top = returns.topk(cfg.elites, dim=1).indices
            elites = torch.gather(samples, 1, top[:, :, None, None].expand(B, cfg.elites, H, A))
            new_mean, new_var = elites.mean(dim=1), elites.var(dim=1, unbiased=False)
            var = cfg.alpha * std ** 2 + (1 - cfg.alpha) * new_var
            mean = cfg.alpha * mean + (1 - cfg.alpha) * new_mean
            std = var.sqrt()
        return Plan(self.clip(mean), std)


class RandomShooting(_Box):
    """Uniform sequences over the action box; the best predicted return wins.
    Draws population x iterations sequences so that it spends the same model
    calls as CEM. Candidate 0 is the warm-start plan, so a good plan found
    earlier is never lost to bad luck."""

    def optimize(self, objective: Objective, obs: torch.Tensor, init_mean: torch.Tensor) -> Plan:
        B, H, A = init_mean.shape
        n = self.cfg.population * self.cfg.iterations
        samples = self.low + (self.high - self.low) * torch.rand(B, n, H, A, generator=self.generator)
        samples[:, 0] = init_mean
        best = _finite(objective(obs, samples)).argmax(dim=1)
        return Plan(samples[torch.arange(B), best], None)


def make_planner(cfg: PlannerConfig, low: np.ndarray, high: np.ndarray,
                 generator: torch.Generator | None = None) -> CEM | RandomShooting:
    return {"cem": CEM, "rs": RandomShooting}[cfg.name](cfg, low, high, generator)


class MPC:
    """Re-plan at every step and execute the first action. With warm start the
    previous plan, shifted by one step, seeds the next search; call `reset()`
    when an episode starts so one episode's plan does not leak into the next."""

    def __init__(self, planner: CEM | RandomShooting, objective: Objective, warm_start: bool = True):
        self.planner, self.objective, self.warm_start = planner, objective, warm_start
        self._plan: torch.Tensor | None = None

    def reset(self) -> None:
        self._plan = None

    def keep_rows(self, rows: list[int]) -> None:
        """Drop finished environments from a batched warm start."""
        if self._plan is not None:
            self._plan = self._plan[rows]

    def act(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """obs [B, d] -> actions [B, A]. `explore` draws the first action from
        CEM's final Gaussian instead of taking its mean."""
        with torch.inference_mode():
            obs_t = torch.as_tensor(np.asarray(obs, np.float32))
            B = obs_t.shape[0]
            init = self.planner.initial_mean(B)
            if self.warm_start and self._plan is not None and self._plan.shape[0] == B:
                init[:, :-1] = self._plan[:, 1:]
            plan = self.planner.optimize(self.objective, obs_t, init)
            self._plan = plan.actions
            first = plan.actions[:, 0]
            if explore and plan.std is not None:
                noise = torch.randn(first.shape, generator=self.planner.generator)
                first = self.planner.clip(first + plan.std[:, 0] * noise)
            return first.numpy().copy()
