"""`zeroplan tune`: search spaces checked like configs, pruning, the best
config trainable, and a killed study continued without repeating trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from tests.helpers import CARTPOLE, run_cli_out

from zeroplan.tune import run_trial

# A trial of a few seconds: small CartPole, evaluated every 96 env steps.
TRIAL_SETS = [a for s in CARTPOLE for a in ("--set", s)]
SPACE = {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}, "search.num_simulations": {"choices": [2, 4]}}


def tune(*args):
    return run_cli_out("tune", "cartpole", *TRIAL_SETS, *args)


@pytest.mark.parametrize("space,message", [
    ({"train.lrr": {"low": 1e-3, "high": 1e-2}}, "'train.lrr' is not a config setting: train has no 'lrr' "
                                                 "(did you mean train.lr?)"),
    ({"train.lr": {"low": 1e-2, "high": 1e-3}}, "train.lr: low (0.01) is above high (0.001)"),
    ({"train.lr": {"low": 0.0, "high": 1e-2, "log": True}}, "train.lr: a log scale needs low > 0"),
    ({"train.lr": {"low": 1e-3}}, "train.lr: give low and high, or choices"),
    ({"train.lr": {"low": 1e-3, "high": 1e-2, "scale": "log"}}, "train.lr: Extra inputs are not permitted"),
    ({"replay.unroll_steps": {"low": 2.5, "high": 5}}, "replay.unroll_steps is an integer setting"),
    ({"search.num_simulations": {"choices": [0, 4]}}, "search.num_simulations: the value 0 is not accepted"),
    ({"search.policy": {"low": 1, "high": 2}}, "search.policy is not a number; give it `choices`"),
    ({"train": {"low": 1, "high": 2}}, "'train' is a config section"),
    ([1, 2], "expected a mapping of config keys"),
])
def test_a_bad_search_space_is_one_message(space, message, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    code, out, err = tune("--space", str(path), "--out", str(tmp_path / "t"), "--trials", "1")
    assert code == 2, err
    assert str(path) in err and message in err, err
    assert "Traceback" not in err and not (tmp_path / "t" / "study.db").exists()


def test_a_space_file_that_is_not_yaml(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("train.lr: {low: [\n")
    code, _, err = tune("--space", str(path), "--out", str(tmp_path / "t"))
    assert code == 2 and "not valid YAML" in err


def test_show_space_prints_a_space_the_checker_accepts(tmp_path):
    code, out, _ = run_cli_out("tune", "cartpole", "--show-space")
    assert code == 0
    shown = yaml.safe_load(out)
    assert {"train.lr", "search.num_simulations", "train.replay_ratio", "replay.unroll_steps", "replay.td_steps",
            "net.latent_dim"} <= set(shown)
    code, out, _ = run_cli_out("tune", "connect4", "--show-space")
    assert "net.channels" in yaml.safe_load(out)  # a residual preset's width is its channel count


def test_a_trial_told_to_prune_stops_at_that_evaluation():
    reports = []

    class Told:
        def report(self, value, step):
            reports.append((step, value))

        def set_user_attr(self, key, value):
            reports[-1] += (value,)

        def should_prune(self):
            return len(reports) == 2

    overrides = yaml.safe_load(yaml.safe_dump({"run": {"max_minutes": 5}}))
    dotted = {s.split("=")[0]: yaml.safe_load(s.split("=")[1]) for s in CARTPOLE}
    from zeroplan.config import set_dotted

    for key, value in dotted.items():
        set_dotted(overrides, key, value)
    overrides["run"]["max_env_steps"] = 5000
    with pytest.raises(optuna.TrialPruned, match=r"pruned at evaluation 2 \(192 env steps\)"):
        run_trial(Told(), "cartpole", "muzero", {"train.lr": 0.003}, overrides)
    # The running mean of the evaluations is what is reported, numbered, with each one's env steps.
    assert [(step, steps) for step, _, steps in reports] == [(1, 96), (2, 192)]


def test_tune_writes_a_best_config_that_train_takes(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = tmp_path / "t"
    code, stdout, err = tune("--trials", "2", "--minutes-per-trial", "0.03", "--space", str(space), "--out", str(out),
                             "--json")
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["trials"] == {"complete": 2}
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["train"]["lr"] == pytest.approx(result["best"]["params"]["train.lr"])
    assert best["search"]["num_simulations"] in (2, 4)
    assert "max_minutes" not in best["run"] and "seed" not in best["run"]  # the tune's budget stays behind
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, stdout, err = run_cli_out("train", "cartpole", "--config", str(out / "best.yaml"), "--max-env-steps", "100",
                                    "--run-dir", str(tmp_path / "run"), "--no-progress")
    assert code == 0, err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["lr"] == pytest.approx(best["train"]["lr"])
    # The same study continues: two more trials, not four.
    code, stdout, err = tune("--trials", "4", "--minutes-per-trial", "0.03", "--space", str(space), "--out", str(out),
                             "--json")
    assert code == 0, err
    states = json.loads(stdout.strip().splitlines()[-1])["trials"]
    assert sum(states.values()) == 4 and set(states) <= {"complete", "pruned"}, states
    # Another space on the same storage is refused rather than mixed in.
    space.write_text(yaml.safe_dump({"train.lr": {"low": 1e-4, "high": 1e-3}}))
    code, _, err = tune("--trials", "5", "--space", str(space), "--out", str(out))
    assert code == 2 and "with another search space" in err


def test_missing_optuna_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, err = tune("--out", str(tmp_path / "t"))
    assert code == 2 and "pip install 'zeroplan[tune]'" in err


@pytest.mark.slow
def test_a_killed_tune_continues_without_repeating_finished_trials(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = tmp_path / "t"
    storage = f"sqlite:///{out / 'study.db'}"
    cmd = [sys.executable, "-m", "zeroplan.cli", "tune", "cartpole", *TRIAL_SETS, "--trials", "3",
           "--minutes-per-trial", "0.08", "--space", str(space), "--out", str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # wait for one finished trial and the next one running
            time.sleep(0.5)
            if not (out / "study.db").exists():
                continue
            try:
                states = [t.state for t in optuna.load_study(study_name="muzero-cartpole", storage=storage).trials]
            except Exception:  # the study is not written yet
                continue
            if states.count(optuna.trial.TrialState.COMPLETE) == 1 and optuna.trial.TrialState.RUNNING in states:
                break
        else:
            pytest.fail("the first trial never finished")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = optuna.load_study(study_name="muzero-cartpole", storage=storage).trials
    done = [t for t in before if t.state == optuna.trial.TrialState.COMPLETE]
    cut = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(done) == 1 and len(cut) == 1

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    after = optuna.load_study(study_name="muzero-cartpole", storage=storage).trials
    complete = [t for t in after if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3  # the one finished before and two more: three in all, not four
    assert complete[0].number == done[0].number and complete[0].value == done[0].value
    assert complete[0].params == done[0].params
    # The trial cut off by the kill is failed, and its settings ran again.
    assert after[cut[0].number].state == optuna.trial.TrialState.FAIL
    assert any(t.params == cut[0].params for t in complete[1:])


@pytest.mark.slow
def test_ray_trials_run_at_once_and_report_through_the_storage(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = tmp_path / "t"
    res = subprocess.run([sys.executable, "-m", "zeroplan.cli", "tune", "cartpole", *TRIAL_SETS, "--trials", "3",
                          "--minutes-per-trial", "0.05", "--space", str(space), "--out", str(out), "--backend", "ray",
                          "--workers", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    trials = optuna.load_study(study_name="muzero-cartpole", storage=f"sqlite:///{out / 'study.db'}").trials
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # Each trial's evaluations reached the study from its Ray task, and the first two ran side by side.
    assert all(1 in t.intermediate_values and t.user_attrs["env_steps"] >= 96 for t in trials)
    assert trials[1].datetime_start < trials[0].datetime_complete
    assert (out / "best.yaml").exists()


def test_a_trial_that_raises_fails_alone():
    from zeroplan.tune import _outcome

    def out_of_memory():
        raise MemoryError("no room for the buffer")

    assert _outcome(out_of_memory) == ("fail", "MemoryError: no room for the buffer")
    assert _outcome(lambda: 3.5) == ("complete", 3.5)


@pytest.mark.parametrize("args,message", [
    (["--storage", "sqlite:////no/such/dir/study.db"], "cannot open the study"),
    (["--storage", "nosuchdb://x"], "cannot open the study"),
    (["--backend", "ray", "--address", "10.0.0.1:6379"], "cannot share an SQLite file"),
    (["--address", "10.0.0.1:6379"], "--address is for --backend ray"),
    (["--pruner", "sometimes"], "--pruner must be one of median, hyperband, none"),
])
def test_bad_study_options_are_one_message(args, message, tmp_path):
    code, _, err = tune("--out", str(tmp_path / "t"), "--trials", "1", *args)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
