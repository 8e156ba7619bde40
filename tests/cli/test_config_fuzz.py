"""Property tests over config dictionaries: anything built from a valid config
by random edits is either accepted or rejected with one ConfigError that names
the key; from the command line, exit status 2 and no run directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroplan.config import Config, ConfigError, build_config, load_preset
from tests.helpers import run_cli

SECTIONS = {name: list(field.annotation.model_fields) for name, field in Config.model_fields.items()}
VALID = load_preset("cartpole")

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@st.composite
def edited_configs(draw):
    """The CartPole preset with 1-4 random edits: a known key set to junk, an
    unknown key added, or a section replaced."""
    data = {k: dict(v) for k, v in VALID.items()}
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["value", "unknown_key", "unknown_section", "section"]))
        section = draw(st.sampled_from(sorted(SECTIONS)))
        if kind in ("value", "unknown_key") and not isinstance(data.get(section), dict):
            data[section] = {}
        if kind == "value":
            data.setdefault(section, {})[draw(st.sampled_from(SECTIONS[section]))] = draw(junk)
        elif kind == "unknown_key":
            data.setdefault(section, {})[draw(st.text(min_size=1, max_size=12))] = draw(junk)
        elif kind == "unknown_section":
            data[draw(st.text(min_size=1, max_size=8))] = draw(junk)
        else:
            data[section] = draw(junk)
    return data


def _keys(data, prefix=""):
    for k, v in data.items():
        yield prefix + str(k)
        if isinstance(v, dict):
            yield from _keys(v, prefix + str(k) + ".")


@settings(max_examples=300, deadline=None)
@given(edited_configs())
def test_any_config_dict_is_accepted_or_one_config_error(data):
    try:
        config = build_config(data)
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message.split(":")[0]
        # The message names a key of the offending dict (or the section that is not a mapping).
        assert any(key in message for key in _keys(data)), message
    else:
        assert isinstance(config, Config)


@st.composite
def invalid_configs(draw):
    """Edits that are always wrong: an unknown key, an out-of-range number, a wrong type."""
    data = {k: dict(v) for k, v in VALID.items()}
    kind = draw(st.sampled_from(["unknown", "range", "type"]))
    if kind == "unknown":
        section = draw(st.sampled_from(sorted(SECTIONS)))
        key = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).filter(
            lambda k: k not in SECTIONS[section]))
        data.setdefault(section, {})[key] = 1
        return data, f"{section}.{key}"
    if kind == "range":
        key = draw(st.sampled_from(["search.num_simulations", "replay.batch_size", "train.lr", "train.num_envs",
                                    "run.eval_episodes", "run.checkpoint_seconds", "search.discount"]))
        value = draw(st.sampled_from([0, -1, -0.5]))
    else:
        key = draw(st.sampled_from(["search.policy", "net.kind", "train.optimizer", "replay.td_steps"]))
        value = draw(st.sampled_from(["nope", [1, 2], {"a": 1}]))
    section, name = key.split(".")
    data[section][name] = value
    return data, key


@settings(max_examples=25, deadline=None)
@given(invalid_configs())
def test_bad_config_file_exits_2_and_writes_nothing(case):
    data, key = case
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "config.yaml"
        file.write_text(yaml.safe_dump(data))
        run = Path(tmp) / "run"
        code, stderr = run_cli("train", "cartpole", "--config", str(file), "--run-dir", str(run), "--no-progress")
        assert code == 2, stderr
        assert key in stderr and "Traceback" not in stderr
        assert not run.exists()


def test_malformed_config_file(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("search: [unclosed\n")
    code, stderr = run_cli("train", "cartpole", "--config", str(file), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "bad.yaml" in stderr and "not valid YAML" in stderr
    file.write_text("- a list\n")
    code, stderr = run_cli("train", "cartpole", "--config", str(file), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "expected a mapping" in stderr
    code, stderr = run_cli("train", "cartpole", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in stderr
    assert not (tmp_path / "run").exists()


def test_resume_arguments_are_checked(tmp_path):
    code, stderr = run_cli("train", "cartpole", "--resume", str(tmp_path))
    assert code == 2 and "--resume continues a run" in stderr
    code, stderr = run_cli("train")
    assert code == 2 and "give an environment" in stderr
    code, stderr = run_cli("train", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "no such run directory" in stderr
    code, stderr = run_cli("train", "--resume", str(tmp_path))
    assert code == 2 and "no checkpoints to resume from" in stderr
    code, stderr = run_cli("train", "cartpole", "--max-env-steps", "0")
    assert code == 2 and "max-env-steps" in stderr
    code, stderr = run_cli("train", "cartpole", "--backend", "spark")
    assert code == 2 and "--backend must be local or ray" in stderr
    code, stderr = run_cli("train", "cartpole", "--address", "auto")
    assert code == 2 and "--address is for --backend ray" in stderr
