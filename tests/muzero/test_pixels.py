"""Pixel observations kept as uint8: the codec is exact, self-play and replay
store each frame once as uint8 and hand the network exactly the float32
values the environment gave, and the memory estimate counts a byte a pixel."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zeroplan.config import EnvConfig, ReplayConfig, load_config
from zeroplan.envs import make_env
from zeroplan.envs.frames import pack_pixels, quantize_pixels, stack_frames, unpack_pixels
from zeroplan.envs.gym import EnvError, GymEnv
from zeroplan.envs.spec import EnvSpec
from zeroplan.muzero.replay import Replay, replay_bytes
from zeroplan.muzero.selfplay import SelfPlay

PLANES_ID = "zeroplan-test/Planes-v0"


class PlanesEnv(gym.Env):
    """MinAtar-like: a (6, 5, 3) boolean grid whose lit cells move with the actions; 12 steps an episode."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (6, 5, 3), bool)  # as MinAtar declares it
        self.action_space = gym.spaces.Discrete(3)

    def _obs(self):
        grid = np.zeros((6, 5, 3), bool)
        grid[self.row % 6, self.col % 5, self.t % 3] = True
        grid[(self.row + 2) % 6, :, (self.t + 1) % 3] = True
        return grid

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.row, self.col, self.t = int(self.np_random.integers(6)), int(self.np_random.integers(5)), 0
        return self._obs(), {}

    def step(self, action):
        self.row += int(action)
        self.col += int(self.np_random.integers(2))
        self.t += 1
        return self._obs(), float(action == 2), False, self.t >= 12, {}


class Uniform:
    """A search model with no preference: zero values, rewards and logits."""

    def initial(self, obs):
        n = len(obs)
        return np.zeros((n, 1), np.float32), np.zeros(n), np.zeros((n, 3))

    def recurrent_fn(self, latent, actions):
        n = len(actions)
        return latent, np.zeros(n), np.zeros(n), np.zeros((n, 3))


@pytest.fixture(scope="module", autouse=True)
def registered():
    if PLANES_ID not in gym.registry:
        gym.register(id=PLANES_ID, entry_point=PlanesEnv)
    yield


def test_codec_is_exact_for_every_level():
    levels = np.arange(256, dtype=np.uint8)
    values = unpack_pixels(levels)
    assert values.dtype == np.float32 and values[0] == 0.0 and values[255] == 1.0
    np.testing.assert_array_equal(pack_pixels(values), levels)
    np.testing.assert_array_equal(quantize_pixels(values), values)
    # nearest level, clipped to [0, 1]
    np.testing.assert_array_equal(pack_pixels(np.array([0.2 / 255, 0.7 / 255, -0.5, 1.5], np.float32)),
                                  [0, 1, 0, 255])
    floats = np.array([0.25, 0.5], np.float32)
    assert unpack_pixels(floats) is floats  # float observations pass through untouched


def test_boolean_planes_become_channel_first_pixels():
    env = make_env(EnvConfig(id=PLANES_ID))
    assert env.spec.obs_shape == (3, 6, 5) and env.spec.pixels
    raw = env.env.reset(seed=4)[0]
    obs = env.reset(seed=4)
    assert obs.dtype == np.float32 and set(np.unique(obs)) <= {0.0, 1.0}
    np.testing.assert_array_equal(obs, raw.transpose(2, 0, 1).astype(np.float32))
    with pytest.raises(EnvError, match="boolean planes"):
        GymEnv(gym.make(PLANES_ID), grayscale=True)
    assert not make_env(EnvConfig(id="CartPole-v1")).spec.pixels


def test_spec_keeps_pixels_in_json():
    spec = EnvSpec((3, 6, 5), 3, 1, "planes", pixels=True)
    assert EnvSpec.from_json(spec.to_json()) == spec
    assert "pixels" not in EnvSpec((4,), 2, 1).to_json()  # older meta.json files read the same


def test_self_play_and_replay_store_uint8_and_give_back_the_env_floats():
    config = load_config(None, dotted=[f"env.id={PLANES_ID}", "env.image_size=[3, 5]", "replay.stack_frames=2",
                                       "train.num_envs=2", "search.num_simulations=2"])
    factory = lambda: make_env(config.env)  # noqa: E731
    selfplay = SelfPlay(config, factory, seed=0)
    assert selfplay.spec.pixels and selfplay.spec.obs_shape == (3, 3, 5)
    episodes = []
    while len(episodes) < 3:
        episodes += selfplay.step(Uniform(), temperature=1.0)
    replay = Replay(config.replay, 3, 0.99)
    for ep in episodes:
        assert ep.obs.dtype == np.uint8
        replay.add(ep)
    # The store gives back, frame-stacked, the floats the episode's uint8 frames stand for.
    for eid, ep in enumerate(episodes):
        stored = replay.search_inputs(np.full(len(ep) + 1, eid), np.arange(len(ep) + 1))[0]
        assert stored.dtype == np.float32
        floats = [unpack_pixels(o) for o in ep.obs]
        expected = np.stack([stack_frames(floats, t, 2) for t in range(len(ep) + 1)])
        np.testing.assert_array_equal(stored, expected)
        assert replay.episode(eid).obs.dtype == np.uint8


def test_pixel_episodes_reproduce_the_env_observations():
    config = load_config(None, dotted=[f"env.id={PLANES_ID}", "train.num_envs=1", "search.num_simulations=2"])
    selfplay = SelfPlay(config, lambda: make_env(config.env), seed=3)
    seed = selfplay.reset_seeds[0]
    episodes = []
    while not episodes:
        episodes += selfplay.step(Uniform(), temperature=1.0)
    ep = episodes[0]
    env = make_env(config.env)
    seen = [env.reset(seed=seed)]
    for a in ep.actions:
        seen.append(env.step(int(a))[0])
    np.testing.assert_array_equal(unpack_pixels(ep.obs), np.stack(seen))


def test_store_converts_episodes_saved_the_other_way():
    config = load_config(None, dotted=[f"env.id={PLANES_ID}", "train.num_envs=1", "search.num_simulations=2"])
    selfplay = SelfPlay(config, lambda: make_env(config.env), seed=1)
    episodes = []
    while len(episodes) < 2:
        episodes += selfplay.step(Uniform(), temperature=1.0)
    packed, older = episodes
    older.obs = unpack_pixels(older.obs)  # as a checkpoint from before uint8 storage holds it
    replay = Replay(config.replay, 3, 0.99)
    replay.add(packed)
    replay.add(older)
    assert replay.episode(1).obs.dtype == np.uint8
    np.testing.assert_array_equal(replay.episode(1).obs, pack_pixels(older.obs))

    # a pixel run's replay keeps uint8 even when a float episode (an older checkpoint's) comes first
    replay = Replay(config.replay, 3, 0.99, pixels=True)
    replay.add(older)
    replay.add(packed)
    assert replay.episode(0).obs.dtype == np.uint8
    np.testing.assert_array_equal(replay.episode(0).obs, pack_pixels(older.obs))
    restored = Replay(config.replay, 3, 0.99, pixels=True)
    restored.load_state_arrays({**replay.state_arrays(), "ep.obs": unpack_pixels(replay.state_arrays()["ep.obs"])})
    assert restored.episode(1).obs.dtype == np.uint8
    np.testing.assert_array_equal(restored.episode(1).obs, packed.obs)


def test_memory_estimate_counts_a_byte_a_pixel():
    config = ReplayConfig(capacity=1000)
    shape = (4, 96, 96)
    floats = replay_bytes(config, EnvSpec(shape, 6, 1))
    pixels = replay_bytes(config, EnvSpec(shape, 6, 1, pixels=True))
    assert floats - pixels == 1000 * 2 * 3 * 4 * 96 * 96


class CountsBoard:
    """A turn-based env (not a pixel env) whose observations are uint8 counts 0..3."""

    spec = EnvSpec((2, 2), 3, 1, "counts")

    def reset(self, seed=None):
        self.t = 0
        return np.array([[0, 1], [2, 3]], np.uint8)

    def step(self, action):
        self.t += 1
        return np.full((2, 2), self.t % 4, np.uint8), 1.0, False, self.t >= 5

    def legal_mask(self):
        return np.ones(3, bool)

    def to_play(self):
        return 0


def test_uint8_observations_of_other_envs_are_kept_as_their_values():
    """Only a pixel env's frames mean k/255: any other env's uint8 observations are stored as float32 values."""
    config = load_config(None, dotted=["train.num_envs=1", "search.num_simulations=2"])
    selfplay = SelfPlay(config, CountsBoard, seed=0)
    episodes = []
    while not episodes:
        episodes += selfplay.step(Uniform(), temperature=1.0)
    ep = episodes[0]
    assert ep.obs.dtype == np.float32
    np.testing.assert_array_equal(ep.obs[0], [[0, 1], [2, 3]])
    replay = Replay(config.replay, 3, 0.99)
    replay.add(ep)
    np.testing.assert_array_equal(replay.search_inputs(np.array([0]), np.array([0]))[0][0], [[0, 1], [2, 3]])
