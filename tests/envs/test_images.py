"""Image observations from Gymnasium envs: layout, scaling, grayscale, downsampling,
and a short MuZero run on a synthetic image env with a residual net and stacked frames."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroplan.config import ConfigError, EnvConfig, load_config
from zeroplan.envs import make_env
from zeroplan.envs.frames import pack_pixels, unpack_pixels
from zeroplan.envs.gym import EnvError, GymEnv
from zeroplan.envs.images import AreaAxis, ImageProcessor, image_layout, is_image_spec

ENV_ID = "zeroplan-test/Dot-v0"


class DotEnv(gym.Env):
    """A white dot on the left or right half of a dark 8x12 picture; say which side
    (action 0 = left, 1 = right) for reward 1. Eight guesses an episode.
    `layout` picks how the picture is laid out: "hwc" (RGB), "chw" or "hw"."""

    def __init__(self, layout: str = "hwc"):
        self.layout = layout
        shape = {"hwc": (8, 12, 3), "chw": (3, 8, 12), "hw": (8, 12)}[layout]
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        img = np.full((8, 12, 3), 10, np.uint8)
        col = 2 if self.side == 0 else 9
        img[3:5, col:col + 2] = 255
        if self.layout == "chw":
            return np.ascontiguousarray(img.transpose(2, 0, 1))
        return img[..., 0] if self.layout == "hw" else img

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.side, self.t = int(self.np_random.integers(2)), 0
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.side)
        self.side, self.t = int(self.np_random.integers(2)), self.t + 1
        return self._obs(), reward, False, self.t >= 8, {}


@pytest.fixture(scope="module", autouse=True)
def registered():
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=DotEnv)
    yield


def test_rgb_image_becomes_channel_first_floats_in_unit_range():
    env = make_env(EnvConfig(id=ENV_ID))
    assert env.spec.obs_shape == (3, 8, 12)
    obs = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (3, 8, 12)
    assert obs.min() == pytest.approx(10 / 255) and obs.max() == 1.0
    obs, _, _, _ = env.step(0)
    assert obs.shape == (3, 8, 12) and 0.0 <= obs.min() and obs.max() <= 1.0


@pytest.mark.parametrize("layout", ["hwc", "chw", "hw"])
def test_every_layout_gives_the_same_planes(layout):
    ref = make_env(EnvConfig(id=ENV_ID)).reset(seed=3)
    env = make_env(EnvConfig(id=ENV_ID, kwargs={"layout": layout}))
    obs = env.reset(seed=3)
    expected = ref[:1] if layout == "hw" else ref
    assert env.spec.obs_shape == expected.shape
    np.testing.assert_array_equal(obs, expected)


def test_grayscale_uses_luma_weights():
    env = make_env(EnvConfig(id=ENV_ID, grayscale=True))
    assert env.spec.obs_shape == (1, 8, 12)
    obs = env.reset(seed=0)
    assert obs.min() == pytest.approx(10 / 255, rel=1e-5) and obs.max() == pytest.approx(1.0, rel=1e-5)
    proc = ImageProcessor((1, 1, 3), "hwc", grayscale=True)
    # quantized to the nearest multiple of 1/255: 0.299 * 255 = 76.2, 0.114 * 255 = 29.1
    assert proc(np.array([[[255, 0, 0]]], np.uint8))[0, 0, 0] == np.float32(76) / np.float32(255)
    assert proc(np.array([[[0, 0, 255]]], np.uint8))[0, 0, 0] == np.float32(29) / np.float32(255)


def test_downsampled_shape_and_block_means():
    env = make_env(EnvConfig(id=ENV_ID, image_size=(4, 6), grayscale=True))
    assert env.spec.obs_shape == (1, 4, 6)
    full = make_env(EnvConfig(id=ENV_ID, grayscale=True)).reset(seed=1)
    small = env.reset(seed=1)
    np.testing.assert_allclose(small, full.reshape(1, 4, 2, 6, 2).mean(axis=(2, 4)), atol=0.5 / 255 + 1e-7)


def test_checkerboard_averages_to_one_half():
    board = (np.indices((4, 4)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = ImageProcessor((4, 4), "hw", image_size=(2, 2))(board)
    assert out.shape == (1, 2, 2)
    np.testing.assert_allclose(out, 128 / 255, rtol=1e-6)  # 127.5 rounds to the even 128


def area_matrix(source: int, target: int) -> np.ndarray:
    """Reference: [target, source] weights, by the definition (each output cell covers
    source/target input pixels, each counted by how much of it it covers)."""
    out = np.zeros((target, source))
    span = source / target
    for i in range(target):
        for j in range(source):
            out[i, j] = max(0.0, min((i + 1) * span, j + 1) - max(i * span, j)) / span
    return out


def test_area_matrix_for_a_fractional_ratio():
    np.testing.assert_allclose(area_matrix(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.data())
def test_area_averaging_matches_the_reference(source, data):
    target = data.draw(st.integers(1, source))
    x = np.random.default_rng(source * 31 + target).random((2, source, 3))
    np.testing.assert_allclose(AreaAxis(source, target)(x, axis=1),
                               np.einsum("ts,bsc->btc", area_matrix(source, target), x), rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_downsampling_keeps_the_mean_and_the_range(height, width, data):
    h = data.draw(st.integers(1, height))
    w = data.draw(st.integers(1, width))
    seed = data.draw(st.integers(0, 2**32 - 1))
    img = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = ImageProcessor(img.shape, "hwc", image_size=(h, w))(img)
    assert out.shape == (3, h, w) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out.mean(axis=(1, 2)), img.mean(axis=(0, 1)) / 255, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(unpack_pixels(pack_pixels(out)), out)  # what uint8 replay keeps is exact


def test_layout_rule():
    full = dict(dtype=np.uint8, low=np.uint8(0), high=np.uint8(255))
    assert image_layout((210, 160, 3), **full) == "hwc"
    assert image_layout((3, 3, 3), **full) == "hwc"  # a tie goes to channel-last
    assert image_layout((4, 84, 84), **full) == "chw"
    assert image_layout((84, 84), **full) == "hw"
    assert image_layout((84, 84, 8), **full) is None
    assert image_layout((84,), **full) is None
    assert image_layout((8, 8, 3), np.float32, 0.0, 1.0) is None
    assert image_layout((8, 8), np.uint8, 0, 2) is None  # a board of small counts, not pixels
    # boolean planes (MinAtar): rank 3 only, channel-last unless the first axis is the smallest
    assert image_layout((10, 10, 4), np.bool_, False, True) == "hwc"
    assert image_layout((10, 10, 10), np.bool_, False, True) == "hwc"
    assert image_layout((4, 10, 10), np.bool_, False, True) == "chw"
    assert image_layout((3, 3), np.bool_, False, True) is None
    assert image_layout((9,), np.bool_, False, True) is None


def test_is_image_spec():
    assert is_image_spec((3, 84, 84)) and is_image_spec((1, 8, 12)) and is_image_spec((3, 6, 7))
    assert not is_image_spec((4,)) and not is_image_spec((8, 8)) and not is_image_spec((3, 1, 84))


def test_vector_box_is_untouched_and_refuses_image_options():
    env = make_env(EnvConfig(id="CartPole-v1"))
    assert env.spec.obs_shape == (4,)
    with pytest.raises(EnvError, match="apply to image observations"):
        make_env(EnvConfig(id="CartPole-v1", grayscale=True))
    with pytest.raises(EnvError, match="apply to image observations"):
        make_env(EnvConfig(id="CartPole-v1", image_size=(2, 2)))


def test_invalid_image_size_is_rejected():
    with pytest.raises(ConfigError, match=r"env.image_size.*>= 1"):
        load_config(None, dotted=[f"env.id={ENV_ID}", "env.image_size=[0, 4]"])
    with pytest.raises(ConfigError, match="env.image_size"):
        load_config(None, dotted=[f"env.id={ENV_ID}", "env.image_size=84"])
    with pytest.raises(EnvError, match=r"image_size \(9, 4\).*\(8, 12\).*only shrinks"):
        make_env(EnvConfig(id=ENV_ID, image_size=(9, 4)))
    assert GymEnv(gym.make(ENV_ID), grayscale=True).spec.obs_shape == (1, 8, 12)
    with pytest.raises(ValueError, match="five planes: env.grayscale needs 1, 3"):
        ImageProcessor((5, 8, 8), "chw", grayscale=True, name="five planes")


@pytest.mark.filterwarnings("ignore:.*not within the observation space")
def test_an_image_of_the_wrong_shape_is_an_env_error():
    env = make_env(EnvConfig(id=ENV_ID))
    env.reset(seed=0)
    env.env.unwrapped._obs = lambda: np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(EnvError, match=r"step 1 returned an image of shape \(2, 2, 3\)"):
        env.step(0)


def test_atari_without_ale_py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now raises ImportError
    with pytest.raises(EnvError, match=r"pip install 'zeroplan\[atari\]'"):
        make_env(EnvConfig(id="ALE/Pong-v5"))


def test_atari_pong_when_ale_py_is_installed():
    pytest.importorskip("ale_py")
    env = make_env(EnvConfig(id="ALE/Pong-v5", image_size=(84, 84), grayscale=True))
    assert env.spec.obs_shape == (1, 84, 84) and env.spec.num_actions == 6
    obs = env.reset(seed=0)
    assert obs.shape == (1, 84, 84) and obs.dtype == np.float32 and 0.0 <= obs.min() <= obs.max() <= 1.0
    env.close()


def test_short_training_run_with_a_resnet_and_stacked_frames():
    from zeroplan.runners.local import LocalRunner

    torch.set_num_threads(1)
    config = load_config(None, dotted=[
        f"env.id={ENV_ID}", "env.image_size=[4, 6]", "net.kind=resnet", "net.channels=8", "net.blocks=1",
        "net.support_size=3", "replay.stack_frames=2", "replay.batch_size=8", "replay.unroll_steps=3",
        "replay.td_steps=3", "search.num_simulations=4", "train.num_envs=2", "train.min_replay_size=32",
        "train.replay_ratio=0.1", "run.max_env_steps=200", "run.eval_interval=200", "run.eval_episodes=2"])
    runner = LocalRunner(config, run_dir=None)
    assert runner.spec.obs_shape == (3, 4, 6) and runner.net.obs_shape == (6, 4, 6)
    result = runner.train()
    assert result.env_steps >= 200 and result.train_steps > 0
    assert result.evals and np.isfinite(result.evals[-1]["mean_return"])


@pytest.mark.slow
def test_muzero_learns_the_dot_picture_from_pixels():
    """The dot's side is only in the pixels: random guessing scores 4 of 8; the conv net learns to read it.
    The frames go through uint8 replay (the env's spec says pixels)."""
    from zeroplan.runners.local import LocalRunner

    torch.set_num_threads(1)
    config = load_config(None, dotted=[
        f"env.id={ENV_ID}", "env.image_size=[4, 6]", "env.grayscale=true", "net.kind=resnet", "net.channels=8",
        "net.blocks=1", "net.support_size=5", "replay.batch_size=32", "replay.unroll_steps=2", "replay.td_steps=1",
        "search.num_simulations=4", "search.policy=gumbel", "train.num_envs=4", "train.min_replay_size=64",
        "train.replay_ratio=0.5", "train.lr=0.01", "run.max_env_steps=1600", "run.eval_interval=400",
        "run.eval_episodes=10", "run.seed=0"])
    runner = LocalRunner(config, run_dir=None)
    assert runner.spec.pixels
    result = runner.train()
    assert runner.replay.episode(runner.replay._next_id - 1).obs.dtype == np.uint8
    best = max(e["mean_return"] for e in result.evals)
    assert best >= 7.0, result.evals  # random: 4 +- 0.45 over 10 episodes
