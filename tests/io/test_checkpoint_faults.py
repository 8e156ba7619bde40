"""Checkpoint bytes that are truncated, bit-flipped, swapped, planted or hand
edited: every case is one clear error naming the file, exit status 2 from the
command line, no traceback, and the run directory exactly as it was."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroplan.config import load_config
from zeroplan.io.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from zeroplan.runners.local import LocalRunner
from tests.helpers import CARTPOLE
from tests.helpers import run_cli

FILES = ["weights.safetensors", "meta.json", "train_state.safetensors", "replay.npz", "selfplay.npz", "state.json",
         "manifest.json"]


@pytest.fixture(scope="module")
def good_run():
    root = Path(tempfile.mkdtemp(prefix="zp-ckpt-"))
    config = load_config("cartpole", dotted=CARTPOLE)
    LocalRunner(config, root / "run", tensorboard=False).train(max_env_steps=128)
    yield root / "run"
    shutil.rmtree(root, ignore_errors=True)


def snapshot(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(run.rglob("*"))}


def assert_rejected(run: Path, culprit: str) -> None:
    """Both the library and the command line refuse, naming `culprit`, and change nothing."""
    last = run / "checkpoints" / "last"
    with pytest.raises(CheckpointError) as err:
        Checkpoint(last)
    assert culprit in str(err.value)
    before = snapshot(run)
    code, stderr = run_cli("train", "--resume", str(run), "--max-env-steps", "64", "--no-progress")
    assert code == 2, stderr
    assert "Traceback" not in stderr and culprit in stderr and stderr.startswith("error: ")
    code, stderr = run_cli("eval", str(run), "--checkpoint", "last", "--json")
    assert code == 2 and culprit in stderr and "Traceback" not in stderr
    assert snapshot(run) == before


def corrupt_copy(good: Path, tmp: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(good, run)
    return run


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(name=st.sampled_from(FILES), fraction=st.floats(0.0, 0.999))
def test_truncated_file(good_run, name, fraction):
    with tempfile.TemporaryDirectory() as tmp:
        run = corrupt_copy(good_run, Path(tmp))
        f = run / "checkpoints" / "last" / name
        data = f.read_bytes()
        f.write_bytes(data[: int(len(data) * fraction)])
        assert_rejected(run, name)


@SETTINGS
@given(name=st.sampled_from(FILES), where=st.floats(0.0, 0.999), bit=st.integers(0, 7))
def test_flipped_bit(good_run, name, where, bit):
    with tempfile.TemporaryDirectory() as tmp:
        run = corrupt_copy(good_run, Path(tmp))
        f = run / "checkpoints" / "last" / name
        data = bytearray(f.read_bytes())
        data[int(len(data) * where)] ^= 1 << bit
        f.write_bytes(bytes(data))
        # A flip in the manifest may break it or make it disagree with any file.
        assert_rejected(run, "" if name == "manifest.json" else name)


def test_a_flipped_bit_in_the_algorithms_name_names_meta_json(good_run):
    """Found by test_flipped_bit: 'muzero' became 'muzern', and the command line
    said only that no such algorithm exists, not which file was damaged."""
    with tempfile.TemporaryDirectory() as tmp:
        run = corrupt_copy(good_run, Path(tmp))
        f = run / "checkpoints" / "last" / "meta.json"
        text = f.read_text()
        assert '"algo": "muzero"' in text
        f.write_text(text.replace('"algo": "muzero"', '"algo": "muzern"'))
        assert_rejected(run, "meta.json")


@SETTINGS
@given(pair=st.lists(st.sampled_from(FILES), min_size=2, max_size=2, unique=True))
def test_swapped_files(good_run, pair):
    with tempfile.TemporaryDirectory() as tmp:
        run = corrupt_copy(good_run, Path(tmp))
        a, b = (run / "checkpoints" / "last" / n for n in pair)
        da, db = a.read_bytes(), b.read_bytes()
        a.write_bytes(db)
        b.write_bytes(da)
        assert_rejected(run, "")


class Boom:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.mark.parametrize("how", ["replace", "add", "missing"])
@pytest.mark.parametrize("name", ["weights.safetensors", "replay.npz", "state.json"])
def test_planted_pickle_or_missing_file(good_run, tmp_path, name, how, capsys):
    run = corrupt_copy(good_run, tmp_path)
    last = run / "checkpoints" / "last"
    payload = pickle.dumps(Boom())
    if how == "replace":
        (last / name).write_bytes(payload)
        culprit = name
    elif how == "add":
        (last / (name + ".pkl")).write_bytes(payload)
        culprit = name + ".pkl"
    else:
        (last / name).unlink()
        culprit = name
    assert_rejected(run, culprit)
    assert "unpickled!" not in capsys.readouterr().out


def rehash(ckpt: Path) -> None:
    """What a careful hand-editor would do: fix up the manifest's sizes and checksums."""
    manifest = json.loads((ckpt / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (ckpt / name).read_bytes()
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (ckpt / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit,message", [
    ("hidden", "shape"),  # config no longer matches the weights
    ("bad_key", "config unusable"),
    ("counters", "disagrees"),
    ("drop_tensor", "missing tensors"),
    ("replay_ring", "replay.npz"),
    ("pickled_npz", "replay.npz"),
])
def test_hand_edited_checkpoint(good_run, tmp_path, edit, message):
    import numpy as np
    from safetensors.torch import load_file, save_file

    run = corrupt_copy(good_run, tmp_path)
    last = run / "checkpoints" / "last"
    meta = json.loads((last / "meta.json").read_text())
    if edit == "hidden":
        meta["config"]["net"]["hidden"] = [48]
    elif edit == "bad_key":
        meta["config"]["search"]["num_simulatons"] = 3
    elif edit == "counters":
        meta["env_steps"] += 8
    (last / "meta.json").write_text(json.dumps(meta))
    if edit == "drop_tensor":
        tensors = load_file(last / "weights.safetensors")
        tensors.pop(sorted(tensors)[0])
        save_file(tensors, last / "weights.safetensors")
    if edit in ("replay_ring", "pickled_npz"):
        with np.load(last / "replay.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        if edit == "replay_ring":
            arrays["ring_episode"][0] = 10_000
        else:
            arrays["counters"] = np.array([Boom()], dtype=object)
        with open(last / "replay.npz", "wb") as f:
            np.savez(f, **arrays)
    rehash(last)
    before = snapshot(run)
    with pytest.raises(CheckpointError, match=message):
        LocalRunner.resume(run, tensorboard=False)
    code, stderr = run_cli("train", "--resume", str(run), "--no-progress")
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert snapshot(run) == before


def test_write_killed_between_renames_leaves_a_loadable_checkpoint(good_run, tmp_path):
    run = corrupt_copy(good_run, tmp_path)
    ckpts = run / "checkpoints"
    (ckpts / "last").rename(ckpts / ".last.old")  # the state between the two renames
    assert Checkpoint(ckpts / "last").manifest["env_steps"] == 128
    runner = LocalRunner.resume(run, {"run": {"max_env_steps": 160}}, tensorboard=False)
    runner.train()
    assert Checkpoint(ckpts / "last").manifest["env_steps"] == 160
    assert not (ckpts / ".last.old").exists()


def test_manifest_lists_sizes_checksums_and_counters(good_run, tmp_path):
    ckpt = Checkpoint(good_run / "checkpoints" / "last")
    assert ckpt.manifest["env_steps"] == 128 and ckpt.manifest["train_steps"] > 0
    for name in FILES[:-1]:
        data = (good_run / "checkpoints" / "last" / name).read_bytes()
        assert ckpt.manifest["files"][name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(ValueError, match="manifest"):
        save_checkpoint(tmp_path / "x", {}, {}, {"manifest.json": b"{}"})
