"""The command line: bad input ends with one message and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.helpers import QUICK, run_cli


def zeroplan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "zeroplan.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("args,message", [
    (["train", "cartpole", "--set", "serch.num_simulations=3"], "did you mean search"),
    (["train", "cartpole", "--set", "search.num_simulations=0"], "search.num_simulations"),
    (["train", "CartPol-v1"], "did you mean CartPole-v1"),
    (["train", "cartpole", "--set", "search.num_simulations"], "section.key=value"),
    (["train", "Pendulum-v1", "--set", "search.sampled_actions=0"], "set search.sampled_actions"),
    (["train", "Pendulum-v1", "--set", "replay.augment_symmetries=true"], "cannot be combined with"),
    (["train", "cartpole", "--set", "run.eval_openings=2"], "run.eval_openings is for two-player games"),
    (["train", "cartpole", "--set", "run.eval_score=worst_side"], "run.eval_score is for two-player games"),
    (["train", "cartpole", "--set", "net.kind=resnet"], "net: kind='resnet' needs a 3-D observation shape"),
    (["train", "connect4", "--set", "net.kind=resnet", "--set", "net.action_encoding=cell"],
     "net: action encoding 'cell' needs one action per cell (6 x 7 = 42), the env has 7 actions"),
    (["train", "LunarLander-v3", "--algo", "alphazero"], "LunarLander-v3 cannot be copied"),
    (["train", "connect4", "--algo", "alphazero", "--set", "replay.stack_frames=2"], "stack_frames 1"),
    (["train", "frozenlake-chance", "--set", "replay.td_steps=0"], "replay.td_steps must be >= 1"),
    (["train", "frozenlake-chance", "--set", "search.sampled_actions=2", "--set", "train.bootstrap=value"],
     "cannot be combined with search.sampled"),
    (["train", "2048", "--set", "net.chance_codes=8", "--set", "net.kind=resnet"], "net.kind 'resnet'"),
    (["train", "cartpole", "--set", "net.chance_codes=-1"], "net.chance_codes"),
])
def test_bad_input_is_one_message_and_exit_2(args, message, tmp_path):
    code, stderr = run_cli(*args, "--run-dir", str(tmp_path / "run"))  # in this process: an escaping exception fails
    assert code == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "run").exists()


def test_a_real_process_exits_2_with_one_message(tmp_path):
    res = zeroplan("train", "cartpole", "--set", "serch.num_simulations=3", "--run-dir", str(tmp_path / "run"),
                   cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "did you mean search" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_then_eval_and_bad_checkpoints(tmp_path):
    run = tmp_path / "run"
    res = zeroplan("train", "cartpole", "--run-dir", str(run), *QUICK)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["env_steps"] >= 64
    for name in ("config.json", "metrics.csv", "checkpoints/best/weights.safetensors", "checkpoints/best/meta.json",
                 "checkpoints/last/meta.json"):
        assert (run / name).exists(), name
    assert any((run / "tb").iterdir())
    header = (run / "metrics.csv").read_text().splitlines()[0]
    for scalar in ("rollout/ep_rew_mean", "eval/mean_reward", "train/loss", "time/fps", "search/sims_per_s"):
        assert scalar in header

    res = zeroplan("eval", str(run), "--episodes", "3", "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["mean_return"] > 0

    res = zeroplan("eval", str(run), "--episodes", "2", "--set", "search.num_simulations=2", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["search"] == {"num_simulations": 2}
    for bad, message in (("net.latent_dim=8", "changes only search.* settings (got net)"),
                         ("search.num_simulations=0", "search.num_simulations")):
        res = zeroplan("eval", str(run), "--set", bad)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr

    res = zeroplan("eval", str(run), "--openings", "2")
    assert res.returncode == 2 and "--openings are for two-player games" in res.stderr

    res = zeroplan("eval", str(run), "--checkpoint", "nope")
    assert res.returncode == 2 and "available: best, last" in res.stderr

    weights = run / "checkpoints" / "best" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    res = zeroplan("eval", str(run), "--json")
    assert res.returncode == 2 and "weights.safetensors" in res.stderr and "Traceback" not in res.stderr
    meta = run / "checkpoints" / "last" / "meta.json"
    meta.write_text("{not json")
    res = zeroplan("eval", str(run), "--checkpoint", "last")
    assert res.returncode == 2 and "meta.json" in res.stderr


@pytest.mark.slow  # trains a small agent first
def test_eval_from_every_opening(tmp_path):
    from zeroplan import MuZero

    run = tmp_path / "ttt"
    agent = MuZero("tictactoe", set=["search.num_simulations=2", "train.num_envs=8", "net.hidden=[16]",
                                     "net.latent_dim=8"], run_dir=run, tensorboard=False)
    agent.runner.save("last")
    agent.runner.close()
    res = zeroplan("eval", str(run), "--opponent", "random", "--openings", "2", "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["openings"] == {"plies": 2, "count": 72}
    assert sum(result["first"].values()) == sum(result["second"].values()) == 72
    res = zeroplan("eval", str(run), "--openings", "5")
    assert res.returncode == 2 and "--openings" in res.stderr and "Traceback" not in res.stderr
