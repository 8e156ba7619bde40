"""A PETS run killed between episodes resumes from its last whole episode and
carries on as the uninterrupted run would."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from zeroplan.config import ConfigError
from zeroplan.io.checkpoint import Checkpoint, CheckpointError
from zeroplan.mbrl.pets import PETS

SETS = ["planner.population=40", "planner.iterations=2", "planner.horizon=8", "planner.particles=5",
        "model.ensemble_size=5", "model.hidden=32", "model.epochs=5", "run.eval_episodes=1", "run.eval_interval=1",
        "env.max_episode_steps=60"]


def test_resume_continues_like_the_uninterrupted_run(tmp_path):
    a = PETS("Pendulum-v1", run_dir=tmp_path / "a", set=SETS, tensorboard=False)
    a.learn(episodes=2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a.learn(episodes=3)

    torch.manual_seed(99)  # the resumed run must not depend on the global generator's state
    b = PETS.resume(tmp_path / "b", tensorboard=False)
    assert b.result.episodes == 2
    b.learn(episodes=3)
    assert b.result.episode_returns == a.result.episode_returns
    assert [e["mean_return"] for e in b.result.evals] == [e["mean_return"] for e in a.result.evals]
    for k, v in a.ensemble.state_dict().items():
        assert torch.equal(v, b.ensemble.state_dict()[k]), k
    assert Checkpoint(tmp_path / "b" / "checkpoints" / "last").manifest["env_steps"] == 180
    a.close(), b.close()


def test_resume_errors(tmp_path):
    a = PETS("Pendulum-v1", run_dir=tmp_path, set=SETS, tensorboard=False)
    a.learn(episodes=1)
    a.close()
    with pytest.raises(ConfigError, match="only run"):
        PETS.resume(tmp_path, {"planner": {"horizon": 3}})
    data = tmp_path / "checkpoints" / "last" / "weights.safetensors"
    data.write_bytes(data.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="weights.safetensors"):
        PETS.resume(tmp_path)
    assert np.isfinite(a.result.episode_returns[0])


def test_non_finite_fit_loss_is_skipped_and_counted():
    from zeroplan.mbrl.config import ModelConfig
    from zeroplan.mbrl.ensemble import ProbabilisticEnsemble, fit_ensemble

    model = ProbabilisticEnsemble(2, 1, 3, 16, 2)
    nll = model.nll
    model.nll = lambda x, y: nll(x, y) * float("nan")  # an overflow, say
    before = {k: v.clone() for k, v in model.named_parameters()}
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)).astype(np.float32), rng.normal(size=(64, 1)).astype(np.float32)
    report = fit_ensemble(model, x, y, ModelConfig(epochs=2, holdout=0.0), torch.Generator().manual_seed(0))
    assert report.skipped_updates == 2 * 1  # 2 epochs of one 64-sample batch
    for k, v in model.named_parameters():
        assert torch.equal(v, before[k]), k
