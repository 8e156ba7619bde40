"""Box action spaces for MuZero (Sampled MuZero): actions in [-1, 1]^D scaled to the
env's bounds, and one clear error for what cannot work."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zeroplan.config import ConfigError, EnvConfig, load_config
from zeroplan.envs import make_env
from zeroplan.envs.gym import EnvError, GymEnv


class Recorder(gym.Env):
    """Remembers the actions it is given; a Box of shape (2, 1) with uneven bounds."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, low=(-3.0, 0.0), high=(1.0, 10.0)):
        self.action_space = gym.spaces.Box(np.array(low, np.float32).reshape(2, 1),
                                           np.array(high, np.float32).reshape(2, 1))
        self.given = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.given.append(np.array(action))
        return np.zeros(2, np.float32), 0.0, False, False, {}


def test_actions_are_scaled_to_the_bounds_and_clipped():
    inner = Recorder()
    env = GymEnv(inner, "recorder")
    assert env.spec.action_dim == 2 and env.spec.num_actions == 1 and env.legal_mask().tolist() == [True]
    env.reset(seed=0)
    for action, expected in (([-1, -1], [-3, 0]), ([1, 1], [1, 10]), ([0, 0], [-1, 5]), ([5, -7], [1, 0])):
        env.step(np.array(action, np.float32))
        assert inner.given[-1].shape == (2, 1) and inner.given[-1].dtype == np.float32
        np.testing.assert_allclose(inner.given[-1].reshape(-1), expected, rtol=1e-6)


@pytest.mark.parametrize("action,message", [(np.array([np.nan, 0.0]), "non-finite action"),
                                            (np.zeros(3), "3 elements, the action space 2")])
def test_a_bad_action_is_one_clear_error(action, message):
    env = GymEnv(Recorder(), "recorder")
    env.reset(seed=0)
    with pytest.raises(EnvError, match=message):
        env.step(action)


def test_infinite_or_empty_bounds_are_refused():
    with pytest.raises(EnvError, match="infinite bounds"):
        GymEnv(Recorder(low=(-np.inf, 0.0)), "unbounded")
    with pytest.raises(EnvError, match="high is not above its low"):
        GymEnv(Recorder(low=(1.0, 0.0), high=(1.0, 1.0)), "flat")


def test_pendulum_is_a_one_dimensional_box():
    env = make_env(EnvConfig(id="Pendulum-v1"))
    assert env.spec.action_dim == 1
    env.reset(seed=0)
    env.step(np.array([1.0]))
    assert env.env.unwrapped.last_u == pytest.approx(2.0)  # the torque bound


def test_muzero_on_continuous_actions_needs_a_sampled_search(tmp_path):
    from zeroplan.runners.local import LocalRunner

    config = load_config("Pendulum-v1", dotted=["search.sampled_actions=0"])
    with pytest.raises(ConfigError, match="set search.sampled_actions"):
        LocalRunner(config, tmp_path / "run", tensorboard=False)
    assert not (tmp_path / "run").exists()


def test_a_trained_continuous_agent_acts_in_bounds_and_round_trips(tmp_path):
    import zeroplan

    agent = zeroplan.MuZero("Pendulum-v1", run_dir=tmp_path / "run", tensorboard=False,
                            set=["env.max_episode_steps=20", "search.num_simulations=4", "search.sampled_actions=4",
                                 "train.num_envs=2", "train.min_replay_size=20", "replay.batch_size=8",
                                 "run.eval_interval=40", "run.eval_episodes=1", "run.stop_at_return=null"])
    agent.learn(total_env_steps=80)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    acts = agent.predict(obs)
    assert acts.shape == (5, 1) and np.abs(acts).max() <= 1.0
    single = agent.predict(obs[0])
    assert single.shape == (1,)
    loaded, again = zeroplan.load(tmp_path / "run"), zeroplan.load(tmp_path / "run")
    assert loaded.spec.action_dim == 1 and loaded.net.core.policy_head.out_features == 2  # a Gaussian's mean, log std
    np.testing.assert_array_equal(loaded.predict(obs), again.predict(obs))  # same weights, same draws
    assert "mean_return" in loaded.evaluate(episodes=1)
    from zeroplan.explain import Game

    with pytest.raises(ConfigError, match="explain and serve show searches"):
        Game.start(loaded)


def test_an_integer_box_is_refused():
    class IntegerBox(Recorder):
        def __init__(self):
            super().__init__()
            self.action_space = gym.spaces.Box(0, 5, (2,), np.int64)

    with pytest.raises(EnvError, match="holds integers"):
        GymEnv(IntegerBox(), "integers")

