"""PETS end to end on a shortened Pendulum: learning beats random actions,
the run directory, save/load, predict, diagnostics and the error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zeroplan
from zeroplan.config import ConfigError, load_config
from zeroplan.envs.gym import EnvError
from zeroplan.eval.diagnose import diagnose
from zeroplan.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from zeroplan.mbrl.config import PetsConfig
from zeroplan.mbrl.pets import PETS
from zeroplan.mbrl.rollout import run_episode

torch.set_num_threads(1)

# 100-step episodes, 2 random + 5 MPC episodes, a smaller search: about 10 s on one core.
SHORT = ["env.max_episode_steps=100", "train.random_episodes=2", "run.max_episodes=7", "run.eval_interval=100",
         "run.eval_episodes=4", "planner.population=100", "planner.iterations=3", "planner.elites=10",
         "model.epochs=30"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("pets_run")
    agent = zeroplan.PETS("Pendulum-v1", set=SHORT, seed=0, run_dir=run_dir, tensorboard=False)
    result = agent.learn()
    return agent, result, run_dir


def random_returns(agent: PETS, episodes: int) -> list[float]:
    """Uniform random actions from the same starts as `agent.evaluate`."""
    env, rng = agent.env_factory(), np.random.default_rng(0)
    base = 10_000_019 + agent.config.run.seed * 1_009
    return [run_episode(env, base + i, lambda o: env.sample_action(rng)).ret for i in range(episodes)]


@pytest.mark.slow  # trains PETS for a few episodes (the module fixture)
def test_short_pets_run_beats_random_actions(trained):
    agent, result, _ = trained
    assert result.episodes == 7 and result.env_steps == 700 and len(agent.data) == 700
    final = result.evals[-1]
    assert final["episodes"] == 7
    random_mean = float(np.mean(random_returns(agent, 4)))
    assert final["mean_return"] > random_mean + 200, (final, random_mean)


@pytest.mark.slow  # trains PETS for a few episodes (the module fixture)
def test_run_dir_holds_metrics_and_checkpoints(trained):
    agent, result, run_dir = trained
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ("env_steps", "rollout/ep_return", "model/val_mse", "eval/mean_reward", "time/plan_ms_per_step"):
        assert key in header
    for name in ("last", "best"):
        tensors, meta = load_checkpoint(run_dir / "checkpoints" / name)
        assert meta["algo"] == "pets" and meta["episodes"] == 7 and meta["env_steps"] == 700
        assert PetsConfig.model_validate(meta["config"]) == agent.config
    assert json.loads((run_dir / "config.json").read_text())["env"]["id"] == "Pendulum-v1"


@pytest.mark.slow  # trains PETS for a few episodes (the module fixture)
def test_save_load_round_trip_and_continue(trained, tmp_path):
    agent, _, _ = trained
    agent.save(tmp_path / "agent")
    again = PETS.load(tmp_path / "agent")
    assert again.config == agent.config
    for (k, a), (_, b) in zip(agent.ensemble.state_dict().items(), again.ensemble.state_dict().items()):
        assert torch.equal(a, b), k
    for k, v in agent.data.arrays().items():
        np.testing.assert_array_equal(v, again.data.arrays()[k])
    assert again.result.episodes == 7 and again.result.env_steps == 700
    # evaluation plans with a freshly seeded planner: the same model gives the same returns
    assert again.evaluate(1) == agent.evaluate(1)
    again.learn(episodes=8)  # one more episode on top of the stored data
    assert again.result.episodes == 8 and len(again.data) == 800


@pytest.mark.slow  # trains PETS for a few episodes (the module fixture)
def test_predict_single_and_batched(trained):
    agent, _, _ = trained
    agent.reset()
    obs = np.array([1.0, 0.0, 0.0], np.float32)
    a = agent.predict(obs)
    assert a.shape == (1,) and -2.0 <= a[0] <= 2.0
    batch = agent.predict(np.stack([obs, -obs, obs]), deterministic=False)
    assert batch.shape == (3, 1) and np.all(np.abs(batch) <= 2.0)


@pytest.mark.slow  # trains PETS for a few episodes (the module fixture)
def test_diagnose_reports_k_step_errors_and_draws_them(trained, tmp_path):
    agent, _, _ = trained
    report = diagnose(agent, seed=5, ks=(1, 5, 10, 20), plot=tmp_path / "diag.png")
    err = report["k_step_error"]
    assert set(err) == {1, 5, 10, 20} and all(np.isfinite(v) for v in err.values())
    assert err[1] < err[20]  # open-loop errors compound
    assert len(report["k_step_error_per_dim"][1]) == 3
    assert (tmp_path / "diag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(report)  # the CLI prints it


def test_known_reward_option_runs():
    agent = PETS("Pendulum-v1", set=["env.max_episode_steps=20", "model.reward=known", "planner.population=20",
                                     "planner.elites=4", "planner.iterations=2", "model.epochs=3"], tensorboard=False)
    assert agent.ensemble.out_dim == 3  # the state change only
    result = agent.learn(episodes=2)
    assert result.env_steps == 40 and np.isfinite(result.evals[-1]["mean_return"])


def test_preset_is_found_by_env_id_and_validated():
    cfg = load_config("Pendulum-v1", model=PetsConfig, family="pets")
    assert cfg.env.id == "Pendulum-v1" and cfg.planner.name == "cem"
    with pytest.raises(ConfigError, match="particles"):
        load_config("Pendulum-v1", dotted=["planner.particles=7"], model=PetsConfig, family="pets")
    with pytest.raises(ConfigError, match="planner.horizon"):
        load_config("Pendulum-v1", dotted=["planner.horizn=7"], model=PetsConfig, family="pets")
    with pytest.raises(ConfigError, match="no reward function is known"):
        PETS("MountainCarContinuous-v0", set=["model.reward=known"], tensorboard=False)
    with pytest.raises(ConfigError, match=r"planner.state_cost has 2 weights but Pendulum-v1 observations have 3"):
        PETS("Pendulum-v1", set=["planner.state_cost=[1.0,0.0]"], tensorboard=False)


def test_discrete_action_env_points_to_muzero():
    with pytest.raises(EnvError, match="continuous .Box. action space.*MuZero"):
        PETS("CartPole-v1", tensorboard=False)


def test_loading_a_checkpoint_of_another_algorithm_fails(tmp_path):
    save_checkpoint(tmp_path / "mz", {"w": torch.zeros(2)}, {"algo": "muzero", "config": {}})
    with pytest.raises(CheckpointError, match="not a PETS checkpoint"):
        PETS.load(tmp_path / "mz")
