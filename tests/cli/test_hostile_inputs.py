"""Inputs nobody tuned for: each gets one clear message and exit status 2 (or 1
for a fault of the machine, like a full disk), and nothing is left half-made."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from tests.helpers import run_cli
from zeroplan.config import ConfigError, load_config
from zeroplan.overrides import parse_overrides, parse_value


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("raw,value", [
    ("16", 16), ("0.5", 0.5), ("1e-3", 0.001), ("60_000", 60000), ("true", True), ("False", False),
    ("null", None), ("", None), ("gumbel", "gumbel"), ("'a b'", "a b"), ("[84, 84]", [84, 84]), ("[]", []),
    ("[1.0,0.0]", [1.0, 0.0]), ("inf", "inf"),
])
def test_set_values_are_plain_scalars_and_flat_lists(raw, value):
    assert parse_value(raw) == value


@pytest.mark.parametrize("raw", ['!!python/object/apply:os.system ["echo hi"]', "[1,", "{a: 1}", "[[1], 2]",
                                 "&anchor 3", "*alias", "[1, {a: 2}]"])
def test_set_refuses_tags_and_structure_naming_the_key(raw):
    with pytest.raises(ConfigError, match=r"--set search\.num_simulations: .*plain value"):
        parse_overrides([f"search.num_simulations={raw}"])


def test_a_tagged_set_value_on_the_command_line_is_one_message(tmp_path):
    code, err = run_cli("train", "cartpole", "--set", 'search.num_simulations=!!python/object/apply:os.system ["x"]',
                        "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "search.num_simulations" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("sets,message", [
    (["train.num_envs=1000000000"], "train.num_envs"),
    (["replay.capacity=10000000000000"], "replay.capacity"),
    (["replay.batch_size=1000000000000"], "replay.batch_size"),
    (["replay.batch_size=600", "replay.capacity=500"], "more than replay.capacity"),
    (["net.hidden=[100000000]"], "hidden layers"),
])
def test_sizes_that_cannot_fit_are_refused_by_the_config(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cartpole", dotted=sets)


def test_a_buffer_larger_than_memory_is_refused_before_anything_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr("zeroplan.runners.local.available_memory", lambda: 2**30)  # 1 GiB free
    run = tmp_path / "run"
    code, err = run_cli("train", "cartpole", "--set", "replay.capacity=10000000", "--run-dir", str(run))
    assert code == 2 and "replay.capacity 10,000,000 transitions" in err and "1.0 GiB is available" in err
    assert not run.exists()
    code, err = run_cli("train", "cartpole", "--set", "replay.capacity=1000", "--max-env-steps", "16",
                        "--no-progress", "--run-dir", str(run))
    assert code == 0, err  # a buffer that fits goes ahead


def test_a_failed_warm_start_leaves_no_run_directory(tmp_path):
    broken = tmp_path / "broken"
    (broken / "checkpoints" / "best").mkdir(parents=True)
    (broken / "checkpoints" / "best" / "meta.json").write_text("{}")
    run = tmp_path / "new"
    code, err = run_cli("train", "cartpole", "--init-from", str(broken), "--run-dir", str(run), "--no-progress")
    assert code == 2 and "manifest.json" in err and "Traceback" not in err
    assert not run.exists()
    # An existing, empty directory gets back to empty.
    run.mkdir()
    code, _ = run_cli("train", "cartpole", "--init-from", str(broken), "--run-dir", str(run), "--no-progress")
    assert code == 2 and list(run.iterdir()) == []


def test_eval_of_a_directory_that_does_not_exist_says_so(tmp_path):
    code, err = run_cli("eval", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_stops_with_one_message(tmp_path, monkeypatch):
    import zeroplan.io.checkpoint as checkpoint
    from zeroplan.io.checkpoint import Checkpoint

    run = tmp_path / "run"
    quick = ["--set", "train.num_envs=4", "--set", "search.num_simulations=4", "--set", "train.min_replay_size=32",
             "--set", "run.eval_interval=100000", "--no-progress"]
    assert run_cli("train", "cartpole", "--max-env-steps", "64", "--run-dir", str(run), *quick)[0] == 0
    before = tree_digest(run / "checkpoints" / "last")
    real_write = checkpoint._write

    def full_disk(path, data):
        if path.name == "replay.npz":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write", full_disk)
    code, err = run_cli("train", "--resume", str(run), "--max-env-steps", "128", "--no-progress")
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert err.count("error:") == 1
    monkeypatch.setattr(checkpoint, "_write", real_write)
    assert tree_digest(run / "checkpoints" / "last") == before  # the previous checkpoint, whole
    assert Checkpoint(run / "checkpoints" / "last").manifest["env_steps"] == 64
    assert not list((run / "checkpoints").glob(".*.tmp.*"))  # no half-written directory left
