"""A Stochastic MuZero run end to end: trained from the command line on the
slippery lake, checked by `zeroplan diagnose` (the chance codes' calibration),
evaluated and recorded; what does not show chance nodes yet says so."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.helpers import run_cli, run_cli_out

QUICK_CHANCE = ["--set", "run.max_env_steps=400", "--set", "train.min_replay_size=64", "--set", "run.eval_interval=200",
                "--set", "run.eval_episodes=3", "--set", "train.num_envs=4", "--set", "net.hidden=[32]",
                "--set", "net.latent_dim=16", "--set", "replay.batch_size=16", "--set", "run.log_interval=100",
                "--set", "run.max_minutes=null", "--no-progress"]


@pytest.fixture(scope="module")
def chance_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("chance") / "run"
    code, err = run_cli("train", "frozenlake-chance", "--run-dir", str(run), *QUICK_CHANCE)
    assert code == 0, err
    return run


def test_diagnose_reports_the_chance_codes_calibration(chance_run):
    code, out, err = run_cli_out("diagnose", str(chance_run), "--episodes", "4", "--seed", "3")
    assert code == 0, err
    report = json.loads(out)
    n, c = report["transitions"], report["chance_codes"]
    assert c == 4 and n >= 4 and report["episodes"] == 4
    observed = [row["observed"] for row in report["per_code"]]
    assert sum(row["count"] for row in report["per_code"]) == n
    assert math.isclose(sum(observed), 1.0, abs_tol=1e-3)
    assert sum(row["count"] for row in report["reliability"]) == n * c  # every predicted probability, binned
    assert 0.0 <= report["expected_calibration_error"] <= 1.0
    assert report["nll_uniform"] == round(math.log(4), 4)


def test_calibration_reads_the_afterstates_distribution_and_the_encoders_codes(chance_run):
    """With the code head fixed to known odds, every transition's prediction is those
    odds; the observed column is the encoder's argmax over the same transitions."""
    import zeroplan
    from zeroplan.eval.chance import _transitions, chance_calibration

    agent = zeroplan.load(chance_run)
    odds = np.array([0.1, 0.2, 0.3, 0.4])
    with torch.no_grad():
        agent.net.chance.code_head.weight.zero_()
        agent.net.chance.code_head.bias.copy_(torch.as_tensor(np.log(odds)))
    report = chance_calibration(agent, episodes=3, seed=5)
    assert [row["predicted"] for row in report["per_code"]] == pytest.approx(odds.tolist(), abs=1e-4)
    obs, actions, later = _transitions(agent, 3, 5, 10_000)
    with torch.no_grad():
        _, probs = agent.net.chance.encode(torch.as_tensor(obs), torch.as_tensor(later))
    counts = np.bincount(probs.argmax(-1).numpy(), minlength=4)
    assert [row["count"] for row in report["per_code"]] == counts.tolist()
    assert report["nll_observed_codes"] == pytest.approx(float(-(counts * np.log(odds)).sum() / counts.sum()),
                                                         abs=1e-4)


def test_eval_and_record_work_and_what_cannot_show_chance_nodes_says_so(chance_run, tmp_path):
    code, out, err = run_cli_out("eval", str(chance_run), "--episodes", "3")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["episodes"] == 3
    code, err = run_cli("explain", str(chance_run), "--json")
    assert code == 2 and "chance nodes" in err
    code, err = run_cli("export", str(chance_run), "--onnx", str(tmp_path / "model"))
    assert code == 2 and "chance codes" in err


def test_diagnose_refuses_a_plain_muzero_run(tmp_path):
    from tests.helpers import QUICK

    code, err = run_cli("train", "cartpole", "--run-dir", str(tmp_path / "run"), *QUICK)
    assert code == 0, err
    code, err = run_cli("diagnose", str(tmp_path / "run"))
    assert code == 2 and "net.chance_codes" in err and "Traceback" not in err
