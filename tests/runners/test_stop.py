"""Stop means stop: an environment whose episodes need not end (CliffWalking-v1
sets no time limit, and an untrained agent rarely reaches the goal) still
gives a run that honours --max-minutes and SIGTERM, even mid-evaluation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from zeroplan.io.checkpoint import Checkpoint

pytestmark = pytest.mark.slow  # real training processes

CLIFF = ["CliffWalking-v1", "--no-progress", "--set", "train.num_envs=4", "--set", "search.num_simulations=4"]


def zeroplan(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zeroplan.cli", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_max_minutes_ends_a_run_whose_episodes_need_not_end(tmp_path):
    run = tmp_path / "run"
    start = time.monotonic()
    proc = zeroplan(*CLIFF, "--max-minutes", "0.2", "--run-dir", str(run), "--set", "run.eval_interval=200")
    out, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, err
    assert seconds < 30, seconds  # 12 s of training, the rest starting up; an evaluation is cut short
    assert "env.max_episode_steps=1000 (the env sets no time limit" in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert Checkpoint(run / "checkpoints" / "last").manifest["env_steps"] == summary["env_steps"] > 0


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_sigterm_mid_evaluation_saves_and_exits_143_within_seconds(tmp_path, backend):
    pytest.importorskip("ray") if backend == "ray" else None
    run = tmp_path / "run"
    # The first evaluation comes after 16 env steps and would play 200 episodes of up to 1,000 steps.
    proc = zeroplan(*CLIFF, "--run-dir", str(run), "--set", "run.eval_interval=16", "--set", "run.eval_episodes=200",
                    "--backend", backend, *(["--num-workers", "1"] if backend == "ray" else []))
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "last").is_dir():  # written before the first step
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.2)
    time.sleep(8 if backend == "ray" else 4)  # well inside the first evaluation by now
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 5, time.monotonic() - sent
    assert "stopped by signal 15" in err and "Traceback" not in err
    Checkpoint(run / "checkpoints" / "last")  # whole
