"""`zeroplan eval --generalize [--plot]` and `zeroplan train --init-from` from the command line."""

from __future__ import annotations

import json

import pytest

from tests.helpers import QUICK
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gen") / "run"
    code, err = run_cli("train", "cartpole", "--run-dir", str(run), *QUICK)
    assert code == 0, err
    return run


def test_generalize_table_json_and_plot(cartpole_run, tmp_path, capsys):
    plot = tmp_path / "gen.png"
    code, err = run_cli("eval", str(cartpole_run), "--generalize", "--episodes", "2", "--json", "--plot", str(plot))
    assert code == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generalize_rows(cartpole_run):
    import contextlib
    import io
    import sys

    from zeroplan import cli

    out = io.StringIO()
    old = sys.argv
    sys.argv = ["zeroplan", "eval", str(cartpole_run), "--generalize", "--episodes", "2", "--json"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            cli.main()
    except SystemExit as e:
        assert e.code in (0, None)
    finally:
        sys.argv = old
    rows = json.loads(out.getvalue().strip().splitlines()[-1])
    names = [r["variant"] for r in rows]
    assert names[0] == "train" and len(names) >= 9
    assert any("length" in n for n in names) and any("sticky" in n for n in names)
    for r in rows:
        assert set(r) >= {"variant", "mean_return", "gap"}
        assert r["gap"] == pytest.approx(r["mean_return"] - rows[0]["mean_return"])


def test_generalize_argument_errors(cartpole_run):
    code, err = run_cli("eval", str(cartpole_run), "--plot", "x.png")
    assert code == 2 and "--generalize" in err


def test_init_from_warm_starts_and_refuses_a_mismatch(cartpole_run, tmp_path):
    run = tmp_path / "fine"
    code, err = run_cli("train", "cartpole", "--run-dir", str(run), "--init-from", str(cartpole_run), *QUICK)
    assert code == 0, err
    assert "initialised from" in err
    code, err = run_cli("train", "tictactoe", "--run-dir", str(tmp_path / "ttt"), "--init-from", str(cartpole_run),
                        "--set", "run.max_env_steps=8", "--no-progress")
    assert code == 2 and "shape" in err and "Traceback" not in err
    assert not (tmp_path / "ttt" / "checkpoints").exists()
    code, err = run_cli("train", "cartpole", "--init-from", str(tmp_path / "nope"), "--run-dir", str(tmp_path / "n"))
    assert code == 2 and "nope" in err and not (tmp_path / "n").exists()
