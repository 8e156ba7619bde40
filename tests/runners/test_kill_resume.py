"""Pull the plug: a training subprocess is SIGKILLed at random moments, some
of them in the middle of a checkpoint write, and resumed each time."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zeroplan.io.checkpoint import Checkpoint, CheckpointError

pytestmark = pytest.mark.slow  # kills real training processes at random moments

# Small and quick, checkpointing twice a second; each checkpoint file write is
# slowed a little (see below) so a kill can land inside a write.
SETS = ["search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=48", "replay.batch_size=16",
        "net.hidden=[32]", "net.latent_dim=16", "env.max_episode_steps=60", "run.eval_interval=200",
        "run.eval_episodes=2", "run.log_interval=40", "run.checkpoint_seconds=0.5"]
TOTAL_STEPS = 1200

SLOW_WRITES = """
import sys, time
import zeroplan.io.checkpoint as checkpoint
_write = checkpoint._write
def slow_write(path, data):
    time.sleep(0.03)
    _write(path, data)
checkpoint._write = slow_write
from zeroplan.cli import main
sys.argv[0] = "zeroplan"
main()
"""


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", SLOW_WRITES, "train", *args, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"training ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def saved_steps(ckpts: Path) -> int:
    """env_steps of the last checkpoint, read while the trainer may be replacing it."""
    try:
        return Checkpoint(ckpts / "last").manifest["env_steps"]
    except (CheckpointError, OSError):
        return -1


def writing(ckpts: Path) -> bool:
    return any(p.name.startswith(".last.tmp.") for p in ckpts.glob(".*"))


def test_sigkill_at_random_moments_then_resume(tmp_path):
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    rng = np.random.default_rng(0)
    proc = start(["cartpole", "--run-dir", str(run), "--max-env-steps", str(TOTAL_STEPS),
                  *[a for s in SETS for a in ("--set", s)]])
    counters, kills_in_write = [(0, 0)], 0
    for kill in range(6):
        # Wait for a checkpoint with progress beyond the last one, then kill:
        # every other time as soon as a write is under way, else after a random pause.
        wait_for(lambda: saved_steps(ckpts) > counters[-1][0], proc)
        if kill % 2 == 0:
            wait_for(lambda: writing(ckpts), proc)
            time.sleep(rng.uniform(0.0, 0.06))
        else:
            time.sleep(rng.uniform(0.1, 1.0))
        in_write = writing(ckpts)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills_in_write += in_write and writing(ckpts)  # the interrupted write was left behind
        ckpt = Checkpoint(ckpts / "last")  # never unreadable, whatever the moment
        now = (ckpt.manifest["env_steps"], ckpt.manifest["train_steps"])
        assert now >= counters[-1], f"counters went backwards: {counters[-1]} -> {now}"
        counters.append(now)
        proc = start(["--resume", str(run)])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "resuming" in err and "Traceback" not in err
    assert kills_in_write >= 1
    final = Checkpoint(ckpts / "last")
    assert final.manifest["env_steps"] >= TOTAL_STEPS
    assert (ckpts / "best").is_dir() and not writing(ckpts)
    assert counters[-1][0] > counters[1][0]
    with open(run / "metrics.csv", newline="") as f:
        steps = [int(r["env_steps"]) for r in csv.DictReader(f) if r.get("time/fps")]
    assert steps == sorted(steps) and steps[-1] >= TOTAL_STEPS - 40
