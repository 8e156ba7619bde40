"""env.action_repeat: one decision plays the action k times in a Gymnasium env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zeroplan.config import ConfigError, EnvConfig, load_config
from zeroplan.envs import make_env
from zeroplan.envs.gym import EnvError, GymEnv


class Counter(gym.Env):
    """Frame t (1-based) pays reward t * 10**action; the episode ends after `length` frames.
    Action 1 is legal only on the first 4 frames (info["action_mask"])."""

    def __init__(self, length: int = 7):
        self.length = length
        self.observation_space = gym.spaces.Box(-1e9, 1e9, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def _info(self):
        return {"action_mask": np.array([True, self.t < 4])}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), self._info()

    def step(self, action):
        self.t += 1
        obs = np.array([self.t, action], np.float32)
        return obs, float(self.t * 10 ** int(action)), self.t >= self.length, False, self._info()


def test_rewards_summed_and_the_episode_end_respected():
    env = GymEnv(Counter(7), action_repeat=3)
    env.reset(seed=0)
    obs, reward, terminated, _ = env.step(0)
    assert obs.tolist() == [3, 0] and reward == 1 + 2 + 3 and not terminated
    obs, reward, terminated, _ = env.step(0)
    assert obs.tolist() == [6, 0] and reward == 4 + 5 + 6 and not terminated
    obs, reward, terminated, _ = env.step(0)  # only frame 7 is left
    assert obs.tolist() == [7, 0] and reward == 7 and terminated


def test_repeating_stops_once_the_action_is_illegal():
    env = GymEnv(Counter(20), action_repeat=3)
    env.reset(seed=0)
    obs, reward, _, _ = env.step(1)  # frames 1..3: action 1 still legal after each
    assert obs.tolist() == [3, 1] and reward == 10 + 20 + 30
    obs, reward, _, _ = env.step(1)  # frame 4 makes it illegal: no frames 5 and 6
    assert obs.tolist() == [4, 1] and reward == 40
    assert not env.legal_mask()[1]


def test_matches_playing_each_frame_on_a_real_env():
    config = EnvConfig(id="CartPole-v1", action_repeat=2)
    repeated, plain = make_env(config), make_env(EnvConfig(id="CartPole-v1"))
    obs_r, obs_p = repeated.reset(seed=3), plain.reset(seed=3)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        action = int(rng.integers(2))
        obs_r, reward_r, term_r, trunc_r = repeated.step(action)
        reward_p, done_p = 0.0, False
        for _ in range(2):
            obs_p, r, term_p, trunc_p = plain.step(action)
            reward_p += r
            if term_p or trunc_p:
                break
        np.testing.assert_array_equal(obs_r, obs_p)
        assert (reward_r, term_r, trunc_r) == (reward_p, term_p, trunc_p)
        done = term_r or trunc_r


def test_refused_where_it_cannot_apply():
    with pytest.raises(EnvError, match="action_repeat is for Gymnasium"):
        make_env(EnvConfig(id="tictactoe", action_repeat=2))
    with pytest.raises(ConfigError, match="action_repeat"):
        load_config("cartpole", dotted=["env.action_repeat=0"])


def test_the_lunarlander_preset_repeats():
    pytest.importorskip("Box2D", reason="LunarLander needs the box2d extra")
    config = load_config("LunarLander-v3")
    assert config.env.action_repeat == 2
    assert make_env(config.env).action_repeat == 2


class NaNMidway(Counter):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.t == 2:
            obs = np.array([np.nan, 0.0], np.float32)
        return obs, reward, terminated, truncated, info


def test_a_bad_frame_inside_a_repeat_is_caught():
    env = GymEnv(NaNMidway(20), name="nan-midway", action_repeat=3)
    env.reset(seed=0)
    with pytest.raises(EnvError, match="nan-midway: step 2 returned a non-finite observation"):
        env.step(0)
