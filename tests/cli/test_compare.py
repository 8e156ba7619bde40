"""`zeroplan compare` and `zeroplan plot`: one protocol for every algorithm,
a table of the right shape, learning curves as a valid PNG, and bad input
named."""

from __future__ import annotations

import json
import sys

import matplotlib.image
import pytest
from tests.helpers import CARTPOLE, QUICK, run_cli_out

SMALL = [a for s in CARTPOLE if not s.startswith("run.") for a in ("--set", s)]


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_png(path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).ndim == 3


def test_compare_table_and_curves(tmp_path):
    plot = tmp_path / "c.png"
    code, out, err = run_cli_out("compare", "CartPole-v1", "--algos", "muzero,ppo,dqn", "--seeds", "2",
                                 "--max-env-steps", "300", "--eval-interval", "100", "--eval-episodes", "2",
                                 "--plot", str(plot), *SMALL)
    assert code == 0, err
    result = last_json(out)
    assert result["threshold"] == 475.0  # CartPole-v1's own reward threshold, by default
    assert result["protocol"] == {"eval_interval": 100, "eval_episodes": 2}
    assert [r["algo"] for r in result["table"]] == ["muzero", "ppo", "dqn"]
    for row in result["table"]:
        assert row["seeds"] == 2 and row["env_steps"] == 300
        assert set(row) >= {"final_mean", "final_std", "seconds", "solved", "steps_to_threshold", "settings"}
    assert {r["algo"]: r["settings"] for r in result["table"]} == {
        "muzero": "zeroplan preset cartpole", "ppo": "rl-zoo", "dqn": "rl-zoo"}
    assert len(result["runs"]) == 6
    for run in result["runs"]:  # every algorithm evaluated at the first step at or past each point
        steps = [e["env_steps"] for e in run["evals"]]
        assert len(steps) == 3 and all(0 <= s - p < 8 for s, p in zip(steps, (100, 200, 300))), run
        seconds = [e["seconds"] for e in run["evals"]]
        assert seconds == sorted(seconds) and seconds[-1] <= run["seconds"] + 1e-6
    finals = {(r["algo"], r["seed"]): r["evals"][-1]["mean_return"] for r in result["runs"]}
    muzero = [finals[("muzero", s)] for s in (0, 1)]
    assert result["table"][0]["final_mean"] == pytest.approx(sum(muzero) / 2, abs=0.01)
    assert_png(plot)
    assert "final return" in err  # the table, on stderr


@pytest.mark.parametrize("args,message", [
    (["CartPole-v1", "--algos", "sac"], "sac acts in continuous (Box) action spaces"),
    (["CartPole-v1", "--algos", "pets"], "pets needs continuous actions"),
    (["CartPole-v1", "--algos", "muzero,muzero"], "names one algorithm twice"),
    (["CartPole-v1", "--algos", "xgboost"], "unknown baseline 'xgboost'"),
    (["tictactoe"], "compare trains single-player environments"),
    (["Pendulum-v1", "--algos", "dqn"], "dqn acts in discrete action spaces"),
    (["CartPole-v1", "--set", "serch.num_simulations=2"], "did you mean search"),
])
def test_compare_bad_input(args, message):
    code, _, err = run_cli_out("compare", *args, "--max-env-steps", "100")
    assert code == 2 and message in err, err
    assert "Traceback" not in err


def test_compare_needs_a_budget_and_names_a_missing_extra(monkeypatch):
    code, _, err = run_cli_out("compare", "CartPole-v1")
    assert code == 2 and "--max-env-steps N or --minutes M" in err
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    code, _, err = run_cli_out("compare", "CartPole-v1", "--algos", "muzero,ppo", "--max-env-steps", "100")
    assert code == 2 and "pip install 'zeroplan[baselines]'" in err


@pytest.mark.slow
def test_compare_continuous_pets_and_sac(tmp_path):
    code, out, err = run_cli_out("compare", "Pendulum-v1", "--algos", "pets,sac", "--seeds", "1", "--max-env-steps",
                                 "400", "--eval-interval", "200", "--eval-episodes", "1",
                                 "--set", "planner.population=20", "--set", "planner.elites=4",
                                 "--set", "planner.iterations=2", "--set", "model.epochs=2")
    assert code == 0, err
    result = last_json(out)
    assert result["threshold"] is None  # Pendulum-v1 declares none
    for run in result["runs"]:  # PETS trains whole 200-step episodes: evaluated after each
        assert [e["env_steps"] for e in run["evals"]] == [200, 400], run


def test_plot_groups_seeds_of_one_setting(tmp_path):
    runs = []
    for name, seed, lr in (("a0", 0, "0.003"), ("a1", 1, "0.003"), ("b0", 0, "0.01")):
        run = tmp_path / name
        code, _, err = run_cli_out("train", "cartpole", "--seed", str(seed), "--run-dir", str(run), *QUICK,
                                   "--set", f"train.lr={lr}")
        assert code == 0, err
        runs.append(str(run))
    out = tmp_path / "curves.png"
    code, stdout, err = run_cli_out("plot", *runs, "--out", str(out), "--json")
    assert code == 0, err
    groups = last_json(stdout)["groups"]
    assert [g["seeds"] for g in groups] == [2, 1]
    assert_png(out)
    header = (tmp_path / "a0" / "metrics.csv").read_text().splitlines()[0]
    assert "time/elapsed_s" in header and "time/eval_s" in header
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli_out("plot", str(tmp_path / "empty"), "--out", str(out))
    assert code == 2 and "no metrics.csv" in err and "empty" in err


def test_minatar_baselines_see_channel_first_planes_through_the_small_cnn():
    """MinAtar's boolean (10, 10, C) planes reach SB3 as float32 (C, 10, 10) and its policy is the MinAtar
    paper's network; DQN and PPO train and play a few steps."""
    pytest.importorskip("minatar")
    pytest.importorskip("stable_baselines3")
    from zeroplan.baselines import Protocol, gym_env_factory, settings, train_baseline
    from zeroplan.config import load_config

    config = load_config("MinAtar/Breakout-v1", dotted=["env.max_episode_steps=50"])
    make = gym_env_factory(config.env, 50)
    env = make()
    assert env.observation_space.shape == (4, 10, 10) and env.observation_space.dtype.name == "float32"
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 10, 10) and set(obs.ravel().tolist()) <= {0.0, 1.0}
    assert settings("dqn", "MinAtar/Breakout-v1")[1] == "MinAtar paper"
    assert settings("ppo", "MinAtar/Asterix-v1")[1] == "rl-zoo Atari"
    for algo in ("dqn", "ppo"):
        run = train_baseline(algo, make, config.env.id, 0, Protocol(interval=1024, episodes=1), 1024, None)
        assert run["env_steps"] == 1024 and len(run["evals"]) == 1
