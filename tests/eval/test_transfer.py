"""Warm start: weights from another run's best (else last) checkpoint, shapes checked."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import zeroplan
from zeroplan.eval.transfer import load_init_weights, warm_start
from zeroplan.io.checkpoint import find_checkpoint
from zeroplan.io.checkpoint import CheckpointError
from zeroplan.nets.build import build_net

TINY = ["search.num_simulations=2", "train.num_envs=2", "net.hidden=[16]", "net.latent_dim=8",
        "net.support_size=5", "train.min_replay_size=16", "run.eval_interval=100000"]


def weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture()
def source_run(tmp_path):
    """A run directory whose best and last checkpoints hold different weights."""
    torch.set_num_threads(1)
    agent = zeroplan.MuZero("CartPole-v1", set=TINY, run_dir=tmp_path / "src", seed=3, tensorboard=False)
    agent.runner.save("best")
    best = weights(agent.net)
    with torch.no_grad():
        for p in agent.net.parameters():
            p.add_(0.5)
    agent.runner.save("last")
    agent.runner.close()
    return tmp_path / "src", best, weights(agent.net), agent.config


def test_best_then_last(source_run):
    run_dir, best, last, config = source_run
    net = build_net(config, (4,), 2)
    assert load_init_weights(net, run_dir) == run_dir / "checkpoints" / "best"
    assert same(weights(net), best)
    shutil.rmtree(run_dir / "checkpoints" / "best")
    assert load_init_weights(net, run_dir).name == "last"
    assert same(weights(net), last)
    fresh = build_net(config, (4,), 2)
    load_init_weights(fresh, run_dir / "checkpoints" / "last")  # a checkpoint directory works too
    assert same(weights(fresh), last)


def test_shape_mismatch_names_each_tensor_and_loads_nothing(source_run):
    run_dir, _, _, config = source_run
    other = zeroplan.MuZero("CartPole-v1", set=TINY + ["net.hidden=[32]"], tensorboard=False).config
    net = build_net(other, (4,), 2)
    before = weights(net)
    with pytest.raises(CheckpointError, match=r"weights.safetensors.*trained on CartPole-v1(.|\n)*\(16, \d+\), "
                                              r"network \(32, \d+\)"):
        load_init_weights(net, run_dir)
    assert same(weights(net), before)
    with pytest.raises(CheckpointError, match="missing from the checkpoint|not in the network"):
        load_init_weights(torch.nn.Linear(4, 2), run_dir)


def test_missing_sources(tmp_path):
    with pytest.raises(CheckpointError, match="no such run"):
        find_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="no best or last"):
        find_checkpoint(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    with pytest.raises(CheckpointError, match="manifest.json"):
        load_init_weights(torch.nn.Linear(4, 2), tmp_path / "junk")


def test_warm_start_a_new_run(source_run, tmp_path):
    run_dir, best, _, _ = source_run
    agent = zeroplan.MuZero("CartPole-v1", set=TINY, run_dir=tmp_path / "new", seed=5, tensorboard=False)
    assert warm_start(agent.runner, run_dir).name == "best"
    assert same(weights(agent.net), best)
    assert same(weights(agent.runner.learner.target_net), best)  # bootstraps from the loaded net, not noise
    source = zeroplan.load(run_dir)
    obs = np.array([0.01, -0.02, 0.03, 0.0], np.float32)
    assert agent.predict(obs) == source.predict(obs)
    agent.learn(total_env_steps=40)
    assert agent.runner.result.train_steps > 0
    with pytest.raises(ValueError, match="before any training"):
        warm_start(agent.runner, run_dir)
    agent.runner.close()
