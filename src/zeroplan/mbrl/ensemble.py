"""A probabilistic ensemble of MLPs: each member predicts a Gaussian (mean and
log-variance) over the normalised target (the state change, and the reward
when it is learned).

The members are stacked: every layer is one batched matmul over [E, N, in] @
[E, in, out] (torch.baddbmm), so E members cost one call per layer instead of
E. The log-variance is squashed between learned soft bounds (PETS, Chua et
al. 2018, appendix A.1): without them a member can drive the variance of
rarely seen inputs to absurd values, and trajectory sampling then explodes.

Fitting (`fit_ensemble`) minimises the Gaussian negative log-likelihood on a
bootstrap resample per member (so members disagree where data is scarce, which
is the epistemic half of the uncertainty), with a held-out split for early
stopping; each member keeps its own best weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zeroplan.mbrl.config import ModelConfig


class Normalizer(nn.Module):
    """Per-feature affine standardisation, fitted on training data; stored as
    buffers so it travels with the weights in a checkpoint."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        # Constant features (e.g. an unused action dim) must not divide by ~0.
        self.std.copy_(x.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ProbabilisticEnsemble(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, ensemble_size: int = 5, hidden: int = 200, layers: int = 3):
        super().__init__()
        self.in_dim, self.out_dim, self.ensemble_size = in_dim, out_dim, ensemble_size
        dims = [in_dim] + [hidden] * layers + [2 * out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(d_in)
            self.weights.append(nn.Parameter(torch.empty(ensemble_size, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(ensemble_size, 1, d_out)))
        # Soft bounds on the log-variance of the normalised targets (PETS' initial values).
        self.max_logvar = nn.Parameter(torch.full((out_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((out_dim,), -10.0))
        self.in_norm = Normalizer(in_dim)
        self.out_norm = Normalizer(out_dim)

    def forward_normalized(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[E, N, in] normalised inputs -> mean and bounded log-variance of the
        normalised targets, each [E, N, out]."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = F.silu(h)
        mean, logvar = h[..., : self.out_dim], h[..., self.out_dim:]
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[E, N, in] raw inputs -> mean and standard deviation of the raw targets."""
        mean, logvar = self.forward_normalized(self.in_norm(x))
        std = torch.exp(0.5 * logvar) * self.out_norm.std
        return mean * self.out_norm.std + self.out_norm.mean, std

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw from each member's predicted Gaussian, raw target units."""
        mean, std = self.predict(x)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + std * noise

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean Gaussian NLL (constant dropped) of normalised targets [E, N, out].
        The pull on the log-variance bounds is added by the fit, not here, so
        that this stays a plain likelihood."""
        mean, logvar = self.forward_normalized(x)
        return ((mean - y) ** 2 * torch.exp(-logvar) + logvar).mean()


@dataclass
class FitReport:
    epochs: int
    train_nll: float
    val_mse: float  # normalised units, mean over members; nan without a held-out split
    seconds: float = 0.0
    skipped_updates: int = 0  # minibatches whose loss was not finite: no step taken


def fit_ensemble(model: ProbabilisticEnsemble, inputs: np.ndarray, targets: np.ndarray, cfg: ModelConfig,
                 generator: torch.Generator) -> FitReport:
    """Fit on all data so far, continuing from the current weights (the
    normalisers are refitted to the new data first)."""
    t0 = time.perf_counter()
    x_all = torch.as_tensor(np.asarray(inputs, np.float32))
    y_all = torch.as_tensor(np.asarray(targets, np.float32))
    n = len(x_all)
    order = torch.randperm(n, generator=generator)
    n_val = int(n * cfg.holdout) if n * cfg.holdout >= 2 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    model.in_norm.fit(x_all[train_idx])
    model.out_norm.fit(y_all[train_idx])
    x_tr, y_tr = model.in_norm(x_all[train_idx]), model.out_norm(y_all[train_idx])
    x_val, y_val = model.in_norm(x_all[val_idx]), model.out_norm(y_all[val_idx])

    E, n_tr = model.ensemble_size, len(x_tr)
    boot = torch.randint(n_tr, (E, n_tr), generator=generator)
    decay = [p for p in model.weights]
    rest = list(model.biases) + [model.max_logvar, model.min_logvar]
    opt = torch.optim.Adam([{"params": decay, "weight_decay": cfg.weight_decay},
                            {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    best_state = {k: v.detach().clone() for k, v in model.named_parameters()}
    best_val = _val_mse(model, x_val, y_val) if n_val else None
    since_gain, epochs, train_nll, skipped = 0, 0, float("nan"), 0
    bs = min(cfg.batch_size, n_tr)
    model.train()
    for epoch in range(cfg.epochs):
        epochs = epoch + 1
        shuffled = torch.gather(boot, 1, torch.argsort(torch.rand(E, n_tr, generator=generator), dim=1))
        total, batches = 0.0, 0
        for start in range(0, n_tr, bs):
            idx = shuffled[:, start:start + bs]
            loss = model.nll(x_tr[idx], y_tr[idx])
            loss = loss + cfg.logvar_bound_weight * (model.max_logvar.sum() - model.min_logvar.sum())
            if not torch.isfinite(loss):  # a numerical fault must not reach the weights
                skipped += 1
                continue
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        train_nll = total / max(batches, 1)
        if best_val is None:
            continue
        val = _val_mse(model, x_val, y_val)
        gained = val < best_val - 1e-4 * best_val.abs()
        if bool(gained.any()):
            since_gain = 0
            best_val = torch.where(gained, val, best_val)
            _keep_members(model, best_state, gained)
        else:
            since_gain += 1
            if since_gain >= cfg.patience:
                break
    if best_val is not None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(best_state[k])
    model.eval()
    val_mse = float(best_val.mean()) if best_val is not None else float("nan")
    return FitReport(epochs, train_nll, val_mse, time.perf_counter() - t0, skipped)


@torch.no_grad()
def _val_mse(model: ProbabilisticEnsemble, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean squared error of the predicted mean on held-out data."""
    mean, _ = model.forward_normalized(x.expand(model.ensemble_size, *x.shape))
    return ((mean - y) ** 2).mean(dim=(1, 2))


@torch.no_grad()
def _keep_members(model: ProbabilisticEnsemble, best: dict[str, torch.Tensor], gained: torch.Tensor) -> None:
    """Snapshot the members whose validation error improved; shared tensors
    (log-variance bounds) follow whenever any member improved."""
    for k, p in model.named_parameters():
        if p.dim() >= 1 and p.shape[0] == model.ensemble_size and k.startswith(("weights", "biases")):
            best[k][gained] = p.detach()[gained]
        else:
            best[k] = p.detach().clone()
