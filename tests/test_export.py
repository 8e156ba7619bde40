"""ONNX export: onnxruntime agrees with torch, zeroplan's search over the
exported networks plays as the torch agent does, and the docs' standalone
search loop runs without torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="zeroplan[onnx] is not installed")
pytest.importorskip("onnxscript", reason="zeroplan[onnx] is not installed")

import zeroplan  # noqa: E402
from tests.helpers import run_cli_out  # noqa: E402
from zeroplan.export import ExportError, OnnxModel, export_onnx  # noqa: E402
from zeroplan.mcts.model import plan  # noqa: E402
from zeroplan.mcts.rules import RulesModel  # noqa: E402
from zeroplan.nets.search_model import SearchModel  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "export.md"
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    agent = zeroplan.pretrained("cartpole")
    out = tmp_path_factory.mktemp("onnx") / "cartpole"
    export_onnx(agent, out)
    return agent, out


@pytest.fixture(scope="module")
def tictactoe(tmp_path_factory):
    agent = zeroplan.pretrained("tictactoe")
    out = tmp_path_factory.mktemp("onnx") / "tictactoe"
    code, _, err = run_cli_out("export", "pretrained:tictactoe", "--onnx", str(out))
    assert code == 0, err
    return agent, out


def _recorded_positions(agent, episodes: int, steps: int) -> tuple[list, list]:
    """Observations and environments along the agent's own episodes (in a
    two-player game against random moves, so that the games differ)."""
    obs, envs = [], []
    rng = np.random.default_rng(0)
    for seed in range(episodes):
        env = agent.env_factory()
        ob = env.reset(seed=seed)
        for _ in range(steps):
            obs.append(ob)
            envs.append(env.clone() if hasattr(env, "clone") else None)
            if env.to_play() == 1:
                move = int(rng.choice(np.flatnonzero(env.legal_mask())))
            else:
                move = agent.predict(ob, env.legal_mask(), env.to_play(), env=env)
            ob, _, terminated, truncated = env.step(move)
            if terminated or truncated:
                break
    return obs, envs


@pytest.mark.parametrize("which", ["cartpole", "tictactoe"])
def test_onnxruntime_gives_torchs_outputs(which, request):
    agent, out = request.getfixturevalue(which)
    torch_model, onnx_model = SearchModel(agent.net, inference="torch"), OnnxModel(out)
    rng = np.random.default_rng(0)
    for batch in (1, 7):
        obs = rng.normal(size=(batch,) + tuple(agent.net.obs_shape)).astype(np.float32)
        for a, b in zip(torch_model.initial(obs), onnx_model.initial(obs)):
            np.testing.assert_allclose(b, a, **TOL)
        latent = torch_model.initial(obs)[0]
        actions = rng.integers(0, agent.spec.num_actions, batch)
        for a, b in zip(torch_model.recurrent_fn(latent, actions), onnx_model.recurrent_fn(latent, actions)):
            np.testing.assert_allclose(b, a, **TOL)


def test_search_over_the_exported_nets_plays_the_torch_agents_moves(cartpole):
    agent, out = cartpole
    obs, _ = _recorded_positions(agent, episodes=1, steps=100)
    assert len(obs) == 100
    onnx_model = OnnxModel(out)
    batch = np.stack(obs)
    legal = np.ones((len(obs), agent.spec.num_actions), bool)
    players = np.zeros(len(obs), int)
    mine = plan(onnx_model, batch, legal, players, agent.config.search, np.random.default_rng(5), 1, 0.0, False)
    theirs = plan(agent.model, batch, legal, players, agent.config.search, np.random.default_rng(5), 1, 0.0, False)
    assert (mine.actions == theirs.actions).all()
    np.testing.assert_allclose(mine.root_values, theirs.root_values, rtol=1e-4, atol=1e-4)


def test_an_exported_alphazero_net_evaluates_positions_for_a_search_over_the_rules(tictactoe):
    agent, out = tictactoe
    obs, envs = _recorded_positions(agent, episodes=12, steps=9)
    rules = RulesModel(OnnxModel(out))
    same = 0
    for ob, env in zip(obs, envs):
        legal, player = env.legal_mask()[None], np.array([env.to_play()])
        mine = plan(rules, ob[None], legal, player, agent.config.search, np.random.default_rng(1), 2, 0.0, False,
                    envs=[env])
        theirs = plan(agent.model, ob[None], legal, player, agent.config.search, np.random.default_rng(1), 2, 0.0,
                      False, envs=[env])
        same += int(mine.actions[0] == theirs.actions[0])
    assert len(obs) >= 40 and len({o.tobytes() for o in obs}) >= 25 and same == len(obs)


def test_the_docs_search_loop_needs_no_torch_and_balances_the_pole(cartpole, tictactoe):
    _, out = cartpole
    code = re.search(r"<!-- export-example.*?```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    script = f"""
import sys
sys.modules["torch"] = None  # any import of torch fails
sys.modules["zeroplan"] = None
{code}
import gymnasium as gym
net = Exported({str(out)!r})
env = gym.make("CartPole-v1")
obs, _ = env.reset(seed=0)
total = 0.0
for _ in range(200):
    obs, reward, terminated, truncated, _ = env.step(plan(net, obs, simulations=16))
    total += reward
    if terminated or truncated:
        break
print(total)
board = Exported({str(tictactoe[1])!r})  # a two-player net: the root keeps to the legal moves
legal = np.array([False, True, False, False, False, False, False, True, False])
assert all(plan(board, np.random.default_rng(i).random(board.spec["obs_shape"]), legal, 20) in (1, 7)
           for i in range(5))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == 200.0  # random play keeps the pole up for about 22 steps


def test_what_cannot_be_exported_is_named(tmp_path):
    agent = zeroplan.MuZero("CartPole-v1", run_dir=tmp_path / "run", set=["net.value_prefix=true"],
                            tensorboard=False)
    with pytest.raises(ExportError, match="value prefix"):
        export_onnx(agent, tmp_path / "out")
    code, _, err = run_cli_out("export", str(tmp_path / "nothing"), "--onnx", str(tmp_path / "o"))
    assert code == 2 and "does not exist" in err
    with pytest.raises(ExportError, match="search.json"):
        OnnxModel(tmp_path)
