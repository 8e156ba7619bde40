"""run.device: where the learner runs. No GPU is needed: the choice is checked
against a torch that reports GPUs (monkeypatched), and the CPU path, which is
the same code, trains exactly as before (benchmarks/digests.py --check)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import run_cli_out
from zeroplan.config import ConfigError, load_config
from zeroplan.io.device import resolve_device


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"Fake GPU {i}")


def test_auto_takes_the_first_gpu_when_there_is_one(monkeypatch):
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == (torch.device("cpu"), None)
    assert resolve_device("cpu") == (torch.device("cpu"), None)
    _gpus(monkeypatch, 2)
    device, note = resolve_device("auto")
    assert device == torch.device("cuda", 0) and "Fake GPU 0" in note
    assert resolve_device("cuda") == (torch.device("cuda", 0), None)
    assert resolve_device("cuda:1") == (torch.device("cuda", 1), None)
    assert resolve_device("cpu") == (torch.device("cpu"), None)  # asked for, kept


def test_a_missing_gpu_is_named(monkeypatch):
    _gpus(monkeypatch, 0)
    with pytest.raises(ConfigError, match="run.device cuda: torch sees no CUDA GPU"):
        resolve_device("cuda")
    _gpus(monkeypatch, 2)
    with pytest.raises(ConfigError, match="only 2 GPUs"):
        resolve_device("cuda:2")


def test_the_config_takes_only_device_names():
    assert load_config("cartpole", dotted=["run.device=cuda:3"]).run.device == "cuda:3"
    for bad in ("gpu", "cuda:", "cuda:x", "CPU"):
        with pytest.raises(ConfigError, match="run.device"):
            load_config("cartpole", dotted=[f"run.device={bad}"])


def test_the_cli_stops_before_writing_anything(monkeypatch, tmp_path):
    _gpus(monkeypatch, 0)
    run = tmp_path / "run"
    code, _, err = run_cli_out("train", "cartpole", "--device", "cuda", "--max-env-steps", "100", "--run-dir", str(run))
    assert code == 2 and "no CUDA GPU" in err and not run.exists()
    code, _, err = run_cli_out("train", "Pendulum-v1", "--algo", "pets", "--device", "cpu", "--max-episodes", "1")
    assert code == 2 and "--device is for MuZero" in err


def test_a_run_on_the_cpu_says_so_and_trains(tmp_path):
    from zeroplan.muzero.agent import MuZero

    agent = MuZero("CartPole-v1", run_dir=tmp_path / "run", set=["run.device=cpu", "train.min_replay_size=64"],
                   tensorboard=False)
    assert agent.runner.device == torch.device("cpu")
    agent.learn(total_env_steps=400)
    assert agent.result.train_steps > 0
    assert all(p.device.type == "cpu" for p in agent.net.parameters())
