"""docs/custom_envs.md's examples, taken from the page as they are, train from
the command line; broken user environments are refused at the door (exit 2,
the problem named, no run directory left behind)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom_envs.md"


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A current directory holding the page's modules (my_corridor.py, my_nim.py) and the broken ones below."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        name = re.match(r"# (\w+\.py)\n", block).group(1)
        (tmp_path / name).write_text(block)
    (tmp_path / "broken_envs.py").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for mod in ("my_corridor", "my_nim", "my_mirror", "broken_envs"):
        sys.modules.pop(mod, None)


def test_the_mirror_example_is_a_symmetry_of_tictactoe(user_dir):
    """The page's Symmetry.of_grid example, checked the way it tells users to check theirs."""
    where = str(user_dir)
    sys.path.insert(0, where)
    try:
        from my_mirror import MIRROR
    finally:
        sys.path.remove(where)
    from tests.helpers import assert_commutes
    from zeroplan.envs.games.tictactoe import TicTacToe

    assert_commutes(TicTacToe, MIRROR, games=40)


QUICK = ["--no-progress", "--set", "train.min_replay_size=32", "--set", "search.num_simulations=4",
         "--set", "run.eval_interval=100", "--set", "run.eval_episodes=4"]


@pytest.mark.slow
def test_single_player_example_trains(user_dir):
    code, err = run_cli("train", "my_corridor:Corridor", "--max-env-steps", "300", "--run-dir", "c", *QUICK)
    assert code == 0, err
    # The page's corridor sets no time limit: one is derived, so every episode ends.
    assert "no preset for my_corridor:Corridor; derived: env.max_episode_steps=1000 (the env sets no time limit" \
        in err and "net.kind=mlp" in err
    assert (user_dir / "c" / "checkpoints" / "last" / "manifest.json").is_file()


@pytest.mark.slow
def test_two_player_example_trains(user_dir):
    code, err = run_cli("train", "my_nim:Nim", "--max-env-steps", "300", "--run-dir", "n", *QUICK,
                        "--set", "run.eval_opponent=random")
    assert code == 0, err
    assert "search.discount=1.0" in err
    assert (user_dir / "n" / "checkpoints" / "best").is_dir()


BROKEN = '''
import gymnasium as gym
import numpy as np


class NaNAtStep3(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t == 3 else 0.0, np.float32)
        return obs, 0.0, self.t >= 10, False, {}


class WrongShape(NaNAtStep3):
    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        return np.zeros(3, np.float32), 0.0, term, trunc, info


class UnboundedActions(NaNAtStep3):
    action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


class TextObservations(NaNAtStep3):
    observation_space = gym.spaces.Text(5)


class BadReset(NaNAtStep3):
    def reset(self, *, seed=None, options=None):
        return np.zeros(2, np.float32)  # no info dict


def not_an_env():
    return 42
'''


@pytest.mark.parametrize("name,message", [
    ("NaNAtStep3", "step 3"),
    ("WrongShape", "shape"),
    ("UnboundedActions", "infinite bounds"),
    ("TextObservations", "cannot encode observation space"),
    ("BadReset", "Gymnasium's env checker"),
    ("not_an_env", "neither a gymnasium.Env nor"),
    ("Missing", "has no 'Missing'"),
])
def test_broken_user_env_is_refused_at_the_door(user_dir, name, message):
    code, err = run_cli("train", f"broken_envs:{name}", "--run-dir", "bad", "--no-progress")
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (user_dir / "bad").exists()


def test_unknown_module(user_dir):
    code, err = run_cli("train", "no_such_module:Env", "--run-dir", "bad")
    assert code == 2 and "cannot import module 'no_such_module'" in err
    assert not (user_dir / "bad").exists()


def test_structured_observations_are_flattened():
    """Tuple, Dict, MultiDiscrete and MultiBinary observations become one
    vector, discrete parts one-hot (Blackjack-v1 was refused before)."""
    import gymnasium as gym
    import numpy as np

    from zeroplan.envs.flatten import flat_encoder

    space = gym.spaces.Dict({"cards": gym.spaces.MultiDiscrete([3, 2]), "flags": gym.spaces.MultiBinary(2),
                             "pos": gym.spaces.Tuple((gym.spaces.Discrete(3, start=1),
                                                      gym.spaces.Box(-1.0, 1.0, (2,), np.float32)))})
    size, encode = flat_encoder(space)
    assert size == 3 + 2 + 2 + 3 + 2
    out = np.empty(size, np.float32)
    encode({"cards": np.array([2, 0]), "flags": np.array([1, 0], np.int8), "pos": (3, np.array([0.5, -0.25]))}, out)
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 0.5, -0.25])
    with pytest.raises(ValueError):
        encode({"cards": np.array([3, 0]), "flags": np.zeros(2), "pos": (1, np.zeros(2))}, out)

    from zeroplan.config import EnvConfig
    from zeroplan.envs import make_env

    env = make_env(EnvConfig(id="Blackjack-v1"))
    assert env.spec.obs_shape == (32 + 11 + 2,)
    obs = env.reset(seed=0)
    assert obs.sum() == 3 and set(np.unique(obs)) <= {0.0, 1.0}  # one 1 per part
