"""The Atari protocol's stack (envs/atari.py) against a fake emulator with
hand-built frames: max-pooling over the last two of four frames, rewards
summed, no-op starts, life loss ending training episodes only; and the real
ALE Pong through it when ale-py and OpenCV are installed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zeroplan.config import ConfigError, EnvConfig, load_config
from zeroplan.envs.atari import FRAME_SKIP, NOOP_MAX, LifeLossEnds, atari_stack
from zeroplan.envs.frames import quantize_pixels, stack_frames
from zeroplan.envs.gym import GymEnv

pytest.importorskip("cv2")  # AtariPreprocessing resizes with OpenCV (zeroplan[atari])


def shade(frame: int) -> int:
    """The fake screen's gray level after `frame` emulator frames: no two neighbours alike."""
    return (frame * 37 + 11) % 256


class FakeALE:
    def __init__(self, game: FakeAtari):
        self.game = game

    def lives(self) -> int:
        return self.game.lives

    def getScreenGrayscale(self, out):
        out[...] = shade(self.game.frame)

    def getScreenRGB(self, out):
        out[...] = shade(self.game.frame)
        out[..., 1] = 255 - shade(self.game.frame)


class FakeAtari(gym.Env):
    """A 210x160 screen of one gray level that changes every frame. Action 1
    scores 1 a frame; a life is lost every 10 frames of action 2; the game is
    over with the last life."""

    metadata = {"render_modes": []}

    def __init__(self, lives: int = 3):
        self.observation_space = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self._frameskip = 1
        self.ale = FakeALE(self)
        self.start_lives = lives
        self.resets = 0
        self.noops = 0
        self.frame = 0
        self.lives = lives

    def get_action_meanings(self):
        return ["NOOP", "FIRE", "DOWN"]

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        self.frame, self.lives, self.noops, self.hurt = 0, self.start_lives, 0, 0
        return np.zeros((210, 160, 3), np.uint8), {}

    def step(self, action):
        self.frame += 1
        self.noops += int(action == 0)
        if action == 2:
            self.hurt += 1
            if self.hurt % 10 == 0:
                self.lives -= 1
        return np.zeros((210, 160, 3), np.uint8), float(action == 1), self.lives == 0, False, {}


def stacked(training: bool, lives: int = 3, **env) -> tuple[GymEnv, FakeAtari]:
    fake = FakeAtari(lives)
    config = EnvConfig(**{"id": "ALE/Fake-v5", "grayscale": True, **env})
    return GymEnv(atari_stack(fake, config, training), name="fake"), fake


def test_frames_are_max_pooled_over_the_last_two_of_four_and_rewards_summed():
    env, fake = stacked(training=False)
    env.reset(seed=0)
    assert env.spec.obs_shape == (1, 96, 96) and env.spec.pixels
    for _ in range(5):
        obs, reward, terminated, truncated = env.step(1)
        n = fake.frame
        expected = quantize_pixels(np.float32(max(shade(n - 1), shade(n)) / 255))
        np.testing.assert_array_equal(obs, np.full((1, 96, 96), expected))
        assert reward == FRAME_SKIP and not terminated and not truncated


def test_no_op_starts_vary_with_the_seed_and_repeat_with_it():
    env, fake = stacked(training=False)
    counts = []
    for seed in range(40):
        env.reset(seed=seed)
        counts.append(fake.noops)
    assert min(counts) >= 1 and max(counts) <= NOOP_MAX and len(set(counts)) > 10
    again = []
    for seed in range(40):
        env.reset(seed=seed)
        again.append(fake.noops)
    assert again == counts


def test_a_lost_life_ends_a_training_episode_and_the_game_goes_on():
    env, fake = stacked(training=True, episodic_life=True, lives=2)
    env.reset(seed=1)
    first_reset = fake.resets
    steps = 0
    terminated = False
    while not terminated:  # ten frames of action 2 lose a life: within three agent steps
        _, _, terminated, _ = env.step(2)
        steps += 1
    assert steps == 3 and fake.lives == 1
    env.reset(seed=2)  # the same game goes on: no emulator reset
    assert fake.resets == first_reset and fake.lives == 1
    terminated = False
    while not terminated:
        _, _, terminated, _ = env.step(2)
    assert fake.lives == 0  # the real end of the game
    env.reset(seed=3)
    assert fake.resets == first_reset + 1 and fake.lives == 2


def test_evaluation_plays_whole_games():
    env, fake = stacked(training=False, episodic_life=True, lives=2)
    env.reset(seed=1)
    steps = 0
    terminated = False
    while not terminated:
        _, _, terminated, _ = env.step(2)
        steps += 1
    assert fake.lives == 0 and steps == 5  # 20 frames of action 2 at 4 frames a step
    assert not any(isinstance(w, LifeLossEnds) for w in _wrappers(env.env))


def _wrappers(env):
    while env is not None:
        yield env
        env = getattr(env, "env", None)


def test_episodic_life_is_refused_outside_atari():
    with pytest.raises(ConfigError, match="env.episodic_life is for Atari"):
        load_config("cartpole", dotted=["env.episodic_life=true"])


def test_real_pong_through_the_stack():
    pytest.importorskip("ale_py")
    from zeroplan.envs import make_env

    config = load_config("ALE/Pong-v5").env
    env = make_env(config)
    # the preset's frames come with their action planes
    assert env.spec.obs_shape == (2, 96, 96) and env.spec.pixels and env.spec.num_actions == 6
    unwrapped = env.env.unwrapped
    assert unwrapped._frameskip == 1 and unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    first = env.reset(seed=0)
    assert first.dtype == np.float32 and first.shape == (2, 96, 96)
    np.testing.assert_array_equal(first[1], 0.0)  # no action yet
    np.testing.assert_array_equal(make_env(config).reset(seed=0), first)
    for _ in range(5):
        obs, reward, terminated, truncated = env.step(1)
    assert obs.shape == (2, 96, 96) and 0.0 <= obs.min() <= obs.max() <= 1.0
    np.testing.assert_array_equal(obs[1], quantize_pixels(np.float32(2 * 255 // 6 / 255)))
    env.env.close()


def test_a_reset_out_of_turn_is_a_real_one():
    """Only the reset right after a lost life carries the game on: a resumed run resets its envs to rebuild
    their episodes from seeds, and those resets must start new games."""
    env, fake = stacked(training=True, episodic_life=True, lives=2)
    env.reset(seed=1)
    env.reset(seed=1)
    assert fake.resets == 2
    terminated = False
    while not terminated:
        _, _, terminated, _ = env.step(2)
    env.reset(seed=2)  # right after the lost life: the same game
    assert fake.resets == 2 and fake.lives == 1
    env.step(1)
    env.reset(seed=3)  # out of turn: a new game
    assert fake.resets == 3 and fake.lives == 2


def test_each_frame_carries_the_action_that_led_to_it_and_stacks_with_it():
    env, fake = stacked(training=False, action_planes=True)
    assert env.spec.obs_shape == (2, 96, 96) and env.spec.pixels
    level = {a: quantize_pixels(np.float32((a + 1) * 255 // 3 / 255)) for a in range(3)}
    obs = [env.reset(seed=0)]
    np.testing.assert_array_equal(obs[0][1], 0.0)  # no action yet
    actions = [1, 0, 2, 1, 1]
    for a in actions:
        obs.append(env.step(a)[0])
        n = fake.frame
        np.testing.assert_array_equal(obs[-1][0], quantize_pixels(np.float32(max(shade(n - 1), shade(n)) / 255)))
        np.testing.assert_array_equal(obs[-1][1], level[a])
    assert len({float(v) for v in level.values()} | {0.0}) == 4  # every action and "none" told apart
    # four stacked frames are four frames and the four actions before them, oldest first
    stack = stack_frames(obs, 5, 4)
    assert stack.shape == (8, 96, 96)
    np.testing.assert_array_equal(stack[1::2, 0, 0], [level[a] for a in actions[1:]])
    np.testing.assert_array_equal(stack[0::2], np.stack(obs[2:])[:, 0])


def test_action_planes_follow_colour_frames_and_only_atari_has_them():
    env, _ = stacked(training=False, action_planes=True, grayscale=False)
    assert env.reset(seed=0).shape == (4, 96, 96)  # RGB, then the action
    with pytest.raises(ConfigError, match="env.action_planes is for Atari"):
        load_config("cartpole", dotted=["env.action_planes=true"])
