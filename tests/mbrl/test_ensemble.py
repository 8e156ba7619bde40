"""The probabilistic ensemble: batched members, heteroscedastic fits, bounded
log-variance, bootstrap disagreement away from the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeroplan.mbrl.config import ModelConfig
from zeroplan.mbrl.ensemble import ProbabilisticEnsemble, fit_ensemble

torch.set_num_threads(1)


def test_batched_layers_match_a_loop_over_members():
    torch.manual_seed(0)
    model = ProbabilisticEnsemble(3, 2, ensemble_size=4, hidden=16, layers=2)
    x = torch.randn(4, 7, 3)
    mean, logvar = model.forward_normalized(x)
    for e in range(4):
        h = x[e]
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            h = h @ w[e] + b[e]
            if i < len(model.weights) - 1:
                h = torch.nn.functional.silu(h)
        torch.testing.assert_close(mean[e], h[:, :2])
    assert (logvar <= model.max_logvar + 1e-6).all() and (logvar >= model.min_logvar - 1e-6).all()


@pytest.fixture(scope="module")
def noisy_fit():
    """sin(x) with noise std 0.05 for x < 0 and 0.5 for x > 0."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(1500, 1)).astype(np.float32)
    noise_std = np.where(x < 0, 0.05, 0.5).astype(np.float32)
    y = np.sin(x) + noise_std * rng.standard_normal(x.shape).astype(np.float32)
    torch.manual_seed(0)
    model = ProbabilisticEnsemble(1, 1, ensemble_size=5, hidden=32, layers=2)
    cfg = ModelConfig(hidden=32, layers=2, epochs=150, patience=30, batch_size=64, lr=3e-3, holdout=0.1)
    report = fit_ensemble(model, x, y, cfg, torch.Generator().manual_seed(0))
    return model, report


def _predict(model, xs):
    x = torch.as_tensor(np.asarray(xs, np.float32).reshape(-1, 1))
    with torch.no_grad():
        mean, std = model.predict(x.expand(model.ensemble_size, *x.shape))
    return mean[..., 0].numpy(), std[..., 0].numpy()  # [E, N]


def test_ensemble_fits_the_mean_and_the_noise_level(noisy_fit):
    model, report = noisy_fit
    assert np.isfinite(report.val_mse) and report.epochs >= 1
    quiet, noisy = np.linspace(-2.8, -0.2, 50), np.linspace(0.2, 2.8, 50)
    mean_q, std_q = _predict(model, quiet)
    mean_n, std_n = _predict(model, noisy)
    assert np.abs(mean_q.mean(0) - np.sin(quiet)).mean() < 0.05
    assert np.abs(mean_n.mean(0) - np.sin(noisy)).mean() < 0.15
    # the aleatoric std: larger where the data is noisier, and near the truth
    assert std_n.mean() > 4 * std_q.mean()
    assert 0.3 < std_n.mean() < 0.8
    assert 0.02 < std_q.mean() < 0.12


def test_members_disagree_more_away_from_the_data(noisy_fit):
    model, _ = noisy_fit
    inside, _ = _predict(model, np.linspace(-2.5, -0.5, 20))
    outside, _ = _predict(model, np.linspace(6, 8, 20))
    assert outside.std(0).mean() > 5 * inside.std(0).mean()


def test_early_stopping_keeps_each_members_best_weights():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(60, 2)).astype(np.float32)
    y = (x[:, :1] * 2 + 0.3 * rng.standard_normal((60, 1))).astype(np.float32)
    torch.manual_seed(1)
    model = ProbabilisticEnsemble(2, 1, ensemble_size=3, hidden=64, layers=2)
    cfg = ModelConfig(epochs=400, patience=3, batch_size=8, lr=1e-2, holdout=0.25)
    gen = torch.Generator().manual_seed(3)
    report = fit_ensemble(model, x, y, cfg, gen)
    assert report.epochs < cfg.epochs  # stopped early on a tiny noisy set
    # the reported error is that of the restored weights, on the same split
    order = torch.randperm(60, generator=torch.Generator().manual_seed(3))[:15]
    xv = model.in_norm(torch.as_tensor(x)[order])
    yv = model.out_norm(torch.as_tensor(y)[order])
    with torch.no_grad():
        mean, _ = model.forward_normalized(xv.expand(3, *xv.shape))
    assert float(((mean - yv) ** 2).mean(dim=(1, 2)).mean()) == pytest.approx(report.val_mse, rel=1e-5)
