"""The Box-action Gymnasium adapter PETS uses."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zeroplan.config import EnvConfig
from zeroplan.envs.continuous import ContinuousEnv, make_continuous_env
from zeroplan.envs.gym import EnvError


def test_pendulum_spec_and_action_clipping():
    env = make_continuous_env(EnvConfig(id="Pendulum-v1"))
    assert env.spec.obs_dim == 3 and env.spec.action_low == (-2.0,) and env.spec.action_high == (2.0,)
    assert env.spec.max_episode_steps == 200
    twin = make_continuous_env(EnvConfig(id="Pendulum-v1"))
    env.reset(seed=1), twin.reset(seed=1)
    a, _, _, _ = env.step(np.array([10.0]))
    b, _, _, _ = twin.step(np.array([2.0]))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EnvError, match="expected 1 finite"):
        env.step(np.array([np.nan]))


class _Broken(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, bad: str):
        self.bad = bad

    def reset(self, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        obs = np.array([np.nan, 0], np.float32) if self.bad == "obs" else np.zeros(2, np.float32)
        reward = np.inf if self.bad == "reward" else 0.0
        return obs, reward, False, False, {}


@pytest.mark.parametrize("bad", ["obs", "reward"])
def test_non_finite_observations_and_rewards_are_refused(bad):
    env = ContinuousEnv(_Broken(bad), name="broken")
    env.reset()
    with pytest.raises(EnvError, match=f"broken: step 1 returned a non-finite {'observation' if bad == 'obs' else 'reward'}"):
        env.step(np.zeros(1))


def test_discrete_actions_are_refused_with_a_pointer_to_muzero():
    with pytest.raises(EnvError, match="CartPole-v1: PETS needs a continuous .Box. action space.*zeroplan train CartPole-v1"):
        make_continuous_env(EnvConfig(id="CartPole-v1"))
