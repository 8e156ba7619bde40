"""MinAtar through its Gymnasium ids: registered on demand, boolean planes read as
uint8-storable pixels (C, 10, 10), and a clear error without the package."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from zeroplan.config import EnvConfig
from zeroplan.envs import make_env
from zeroplan.envs.gym import EnvError

PLANES = {"Asterix": 4, "Breakout": 4, "Freeway": 7, "Seaquest": 10, "SpaceInvaders": 6}


@pytest.mark.parametrize("game,channels", PLANES.items())
def test_each_game_gives_channel_first_binary_planes(game, channels):
    pytest.importorskip("minatar")
    env = make_env(EnvConfig(id=f"MinAtar/{game}-v1"))
    assert env.spec.obs_shape == (channels, 10, 10) and env.spec.pixels
    obs = env.reset(seed=7)
    raw = env.env.unwrapped.game.state()
    np.testing.assert_array_equal(obs, raw.transpose(2, 0, 1).astype(np.float32))
    obs, reward, terminated, truncated = env.step(0)
    assert obs.dtype == np.float32 and set(np.unique(obs)) <= {0.0, 1.0} and np.isfinite(reward)


def test_same_seed_same_game():
    pytest.importorskip("minatar")
    a, b = (make_env(EnvConfig(id="MinAtar/Breakout-v1")) for _ in range(2))
    np.testing.assert_array_equal(a.reset(seed=3), b.reset(seed=3))
    for t in range(30):
        x, y = a.step(t % 3), b.step(t % 3)
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
        if x[2]:
            break


def test_without_minatar_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar", None)
    monkeypatch.setitem(sys.modules, "minatar.gym", None)
    with pytest.raises(EnvError, match=r"pip install 'zeroplan\[minatar\]'"):
        make_env(EnvConfig(id="MinAtar/Pong-v1"))
