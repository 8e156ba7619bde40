"""The command line driven with random subsets of its flags and random
`--set key=value` pairs (real config keys with plausible and junk values, and
junk keys): every invocation exits 0 or 2 with no traceback, within its time,
and a run directory it did not make stays exactly as it was."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import run_cli
from zeroplan.config import Config

pytestmark = pytest.mark.slow  # 200 invocations, some of which train for a moment

KEYS = [f"{section}.{key}" for section, field in Config.model_fields.items()
        for key in field.annotation.model_fields if (section, key) not in {("run", "max_env_steps"),
                                                                          ("run", "max_minutes")}]
PLAUSIBLE = ["0", "1", "2", "16", "0.5", "-1", "true", "false", "null", "[]", "[16]", "[1, 2]", "gumbel", "puct",
             "mlp", "resnet", "random", "expert", "1e9", "1000000000"]
JUNK = ["", "=", "[1,", "{a: 1}", "!!python/object/apply:os.system [\"true\"]", "&a 1", "nan", "inf", "[[1]]",
        "\x00", "é", "-0", "1e400"]
ENVS = ["cartpole", "CartPole-v1", "tictactoe", "Pendulum-v1", "NoSuchEnv-v0", "pettingzoo:nothing", "a:b",
        "FrozenLake-v1"]
LIMIT_S = 60  # no invocation may take longer

setting = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(PLAUSIBLE + JUNK)).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.text("abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=16), st.sampled_from(PLAUSIBLE))
    .map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(["search.num_simulations", "=3", "...=1", "run=3", "search=1"]),
)


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A finished tiny run the invocations may read, resume or aim at, never change."""
    run = tmp_path_factory.mktemp("fuzz") / "saved"
    code, err = run_cli("train", "cartpole", "--run-dir", str(run), "--no-progress", "--max-env-steps", "32",
                        "--set", "train.num_envs=4", "--set", "search.num_simulations=2")
    assert code == 0, err
    return run


@st.composite
def invocations(draw, saved: str, fresh: str):
    command = draw(st.sampled_from(["train", "train", "train", "eval", "eval", "diagnose", "resume", "play"]))
    sets = [x for s in draw(st.lists(setting, max_size=4)) for x in ("--set", s)]
    if command == "train":
        args = ["train", draw(st.sampled_from(ENVS)), "--no-progress", "--run-dir", draw(st.sampled_from([fresh, saved]))]
        args += draw(st.sampled_from([[], ["--algo", "pets"], ["--algo", "nope"], ["--seed", "3"],
                                      ["--max-episodes", "1"], ["--init-from", saved], ["--backend", "nope"],
                                      ["--address", "x"], ["--config", "/nonexistent.yaml"]]))
        # A small budget last, so that it wins over anything drawn.
        return args + sets + ["--set", "run.max_env_steps=24", "--set", "run.max_minutes=0.02",
                              "--set", "train.num_envs=2", "--set", "search.num_simulations=2"]
    if command == "resume":
        return ["train", "--resume", draw(st.sampled_from([saved, fresh, "/nonexistent"])), "--no-progress",
                "--max-env-steps", "32"] + sets
    if command == "eval":
        target = draw(st.sampled_from([saved, fresh, "/nonexistent", saved + "/checkpoints/last"]))
        extra = draw(st.sampled_from([[], ["--episodes", "1"], ["--opponent", "expert"], ["--openings", "2"],
                                      ["--generalize"], ["--plot", "x.png"], ["--checkpoint", "nope"],
                                      ["--episodes", "0"]]))
        search_sets = [x for s in draw(st.lists(st.sampled_from(["search.num_simulations=2", "search.policy=puct",
                                                                 "train.lr=1", "search.nope=1"]), max_size=2))
                       for x in ("--set", s)]
        return ["eval", target, "--episodes", "1", *extra, *search_sets]
    if command == "diagnose":
        return ["diagnose", draw(st.sampled_from([saved, "/nonexistent"]))]
    return ["play", draw(st.sampled_from(["CartPole-v1", "nogame", "tictactoe"])), "--run",
            draw(st.sampled_from([saved, "/nonexistent"])), "--record", fresh + ".gif"]


def test_random_invocations_exit_0_or_2_without_traceback_and_leave_other_runs_alone(saved_run, tmp_path):
    before = digest(saved_run)
    seen: dict[int, int] = {}

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.data())
    def check(data):
        fresh = tmp_path / f"fresh{len(seen) and sum(seen.values())}"
        args = data.draw(invocations(str(saved_run), str(fresh)))
        start = time.monotonic()
        code, err = run_cli(*args)
        took = time.monotonic() - start
        seen[code] = seen.get(code, 0) + 1
        assert code in (0, 2), (args, code, err[-2000:])
        assert "Traceback" not in err, (args, err[-2000:])
        assert code == 0 or err.count("error: ") == 1 or "Usage" in err, (args, err)  # one message
        assert took < LIMIT_S, (args, took)
        continued = args[:2] == ["train", "--resume"] and args[2] == str(saved_run) and code == 0
        if continued:  # the one invocation that may change it: carrying on the run itself
            before.clear()
            before.update(digest(saved_run))
        assert digest(saved_run) == before, args
        if code == 2 and args[0] == "train" and "--resume" not in args:
            assert not fresh.exists() or not any(fresh.iterdir()), (args, err)  # a refused run leaves nothing

    check()
    assert sum(seen.values()) >= 200 and seen.get(0, 0) > 0 and seen.get(2, 0) > 0, seen
