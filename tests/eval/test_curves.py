"""Learning curves on hand-written run directories: reading, grouping, bands, plots, summaries."""

from __future__ import annotations

import copy
import csv
import json
import math

import numpy as np
import pytest

from zeroplan.eval.curves import Curve, CurveError, band, group_runs, plot_curves, read_run, summary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONFIG = {
    "env": {"id": "CartPole-v1", "max_episode_steps": None},
    "train": {"lr": 0.001, "batch_size": 64},
    "search": {"num_simulations": 8},
    "run": {"seed": 0, "max_env_steps": 10_000, "max_minutes": None, "checkpoint_seconds": 180.0,
            "eval_interval": 1_000},
}
FIELDS = ["env_steps", "rollout/ep_rew_mean", "train/loss", "eval/mean_reward", "time/elapsed_s", "time/eval_s"]


def write_run(path, rows, fields=FIELDS, config=None, seed=0, **changes):
    """A run directory: metrics.csv from `rows` (dicts; missing cells are left empty)
    and, unless config is False, config.json (CONFIG with `seed` and dotted changes)."""
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    if config is not False:
        config = copy.deepcopy(config or CONFIG)
        config["run"]["seed"] = seed
        for key, value in changes.items():
            section, name = key.split("__")
            config[section][name] = value
        (path / "config.json").write_text(json.dumps(config))
    return path


def eval_rows(steps, returns, elapsed=None, eval_s=None):
    """Evaluation rows, each preceded by a training row with no eval cell."""
    rows = []
    for i, (step, ret) in enumerate(zip(steps, returns)):
        rows.append({"env_steps": step - 1, "rollout/ep_rew_mean": 5.0, "train/loss": 0.5})
        row = {"env_steps": step, "eval/mean_reward": ret}
        if elapsed is not None:
            row |= {"time/elapsed_s": elapsed[i], "time/eval_s": eval_s[i]}
        rows.append(row)
    return rows


def test_read_run_takes_the_evaluation_rows_in_order(tmp_path):
    rows = [{"env_steps": 50, "rollout/ep_rew_mean": 9.0, "train/loss": 1.0, "time/elapsed_s": 2.0, "time/eval_s": 0},
            {"env_steps": 200, "eval/mean_reward": 30.0, "time/elapsed_s": 12.0, "time/eval_s": 3.0},
            {"env_steps": 150, "rollout/ep_rew_mean": 11.0, "time/elapsed_s": 8.0, "time/eval_s": 1.0},
            {"env_steps": 100, "eval/mean_reward": 10.0, "time/elapsed_s": 6.0, "time/eval_s": 1.0},
            {"env_steps": 300, "eval/mean_reward": 25.5, "time/elapsed_s": 20.5, "time/eval_s": 4.5}]
    curve = read_run(write_run(tmp_path / "cartpole_s3", rows, seed=3))
    assert curve.label == "cartpole_s3" and curve.seed == 3
    assert curve.env_steps.tolist() == [100.0, 200.0, 300.0]
    assert curve.returns.tolist() == [10.0, 30.0, 25.5]
    assert curve.seconds.tolist() == [5.0, 9.0, 16.0]


def test_read_run_without_time_columns_has_nan_seconds(tmp_path):
    old = ["env_steps", "rollout/ep_rew_mean", "train/loss", "eval/mean_reward"]
    curve = read_run(write_run(tmp_path / "old", eval_rows([10, 20], [1.0, 2.0]), fields=old, config=False))
    assert curve.returns.tolist() == [1.0, 2.0] and curve.seed is None
    assert len(curve.seconds) == 2 and np.isnan(curve.seconds).all()


def test_curve_errors_name_the_directory(tmp_path):
    missing = tmp_path / "no_metrics"
    missing.mkdir()
    with pytest.raises(CurveError, match="no_metrics.*no metrics.csv"):
        read_run(missing)
    never = write_run(tmp_path / "never_evaluated", [{"env_steps": 10, "rollout/ep_rew_mean": 3.0}])
    with pytest.raises(CurveError, match="never_evaluated.*never evaluated"):
        read_run(never)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "metrics.csv").write_text("this is not\na metrics file\n")
    with pytest.raises(CurveError, match="garbage.*malformed"):
        read_run(garbage)
    (garbage / "metrics.csv").write_bytes(b"\xff\xfe\x00\x81binary junk")
    with pytest.raises(CurveError, match="garbage.*unreadable"):
        read_run(garbage)
    bad_cell = write_run(tmp_path / "bad_cell", [{"env_steps": 10, "eval/mean_reward": "lots"}])
    with pytest.raises(CurveError, match="bad_cell.*malformed"):
        read_run(bad_cell)


def test_group_runs_puts_seeds_of_one_setting_together(tmp_path):
    rows = eval_rows([100, 200], [1.0, 2.0], elapsed=[1.0, 2.0], eval_s=[0.0, 0.0])
    dirs = [write_run(tmp_path / "base_s0", rows, seed=0),
            write_run(tmp_path / "fast_lr", rows, seed=0, train__lr=0.01),
            write_run(tmp_path / "base_s1", rows, seed=1, run__max_env_steps=500, run__max_minutes=2.0,
                      run__checkpoint_seconds=10.0)]
    groups = group_runs(dirs)
    assert list(groups) == ["CartPole-v1 base_s0 (2 seeds)", "CartPole-v1 fast_lr (1 seed)"]
    assert [c.label for c in groups["CartPole-v1 base_s0 (2 seeds)"]] == ["base_s0", "base_s1"]
    assert [c.seed for c in groups["CartPole-v1 base_s0 (2 seeds)"]] == [0, 1]


def test_group_labels_use_the_env_id_alone_when_it_is_unique(tmp_path):
    rows = eval_rows([100], [1.0])
    pendulum = copy.deepcopy(CONFIG) | {"env": {"id": "Pendulum-v1"}}
    dirs = [write_run(tmp_path / "a", rows, seed=0), write_run(tmp_path / "b", rows, seed=4),
            write_run(tmp_path / "c", rows, config=pendulum), write_run(tmp_path / "loose", rows, config=False),
            write_run(tmp_path / "d", rows, seed=1, run__eval_interval=500)]
    groups = group_runs(dirs)
    assert list(groups) == ["CartPole-v1 a (2 seeds)", "Pendulum-v1 (1 seed)", "loose (1 seed)",
                            "CartPole-v1 d (1 seed)"]
    with pytest.raises(CurveError, match="no run directories"):
        group_runs([])


def test_band_interpolates_onto_the_common_range():
    a = Curve("a", np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0, 20.0]))
    b = Curve("b", np.array([5.0, 15.0, 25.0]), np.full(3, np.nan), np.array([10.0, 10.0, 30.0]))
    grid, mean, low, high = band([a, b], points=11)
    assert grid[0] == 5.0 and grid[-1] == 20.0 and len(grid) == 11
    # At x=5: a is 5, b is 10. At x=11: a is 11, b is 10. At x=20: a is 20, b is 20.
    for x, want in ((5.0, (7.5, 5.0, 10.0)), (11.0, (10.5, 10.0, 11.0)), (20.0, (20.0, 20.0, 20.0))):
        i = int(np.argmin(abs(grid - x)))
        assert grid[i] == pytest.approx(x)
        assert (mean[i], low[i], high[i]) == pytest.approx(want)
    # b has no seconds: only a remains, drawn through its own points.
    grid, mean, low, high = band([a, b], x="seconds")
    assert grid.tolist() == [0.0, 1.0, 2.0] and mean.tolist() == low.tolist() == high.tolist() == [0.0, 10.0, 20.0]
    assert all(len(arr) == 0 for arr in band([b], x="seconds"))
    with pytest.raises(ValueError):
        band([a], x="minutes")


def _read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_plot_curves_writes_a_png(tmp_path):
    timed = eval_rows([100, 200, 300], [5.0, 20.0, 40.0], elapsed=[2.0, 4.0, 7.0], eval_s=[0.5, 1.0, 1.5])
    groups = group_runs([write_run(tmp_path / "runs" / "s0", timed, seed=0),
                         write_run(tmp_path / "runs" / "s1", timed, seed=1, run__max_env_steps=300)])
    out = plot_curves(groups, tmp_path / "figs" / "nested" / "curves.png", title="CartPole", threshold=30.0)
    assert out == tmp_path / "figs" / "nested" / "curves.png"
    wide = _read_png(out)
    assert wide.shape[1] > wide.shape[0]  # two panels side by side


def test_plot_curves_without_time_columns(tmp_path):
    old = ["env_steps", "rollout/ep_rew_mean", "train/loss", "eval/mean_reward"]
    groups = group_runs([write_run(tmp_path / "old", eval_rows([10, 20], [1.0, 2.0]), fields=old)])
    assert all(np.isnan(c.seconds).all() for c in groups["CartPole-v1 (1 seed)"])
    _read_png(plot_curves(groups, tmp_path / "old.png"))
    with pytest.raises(ValueError):
        plot_curves({}, tmp_path / "none.png")


def test_summary_figures():
    def curve(returns, steps):
        return Curve("c", np.array(steps, float), np.full(len(steps), np.nan), np.array(returns, float))

    groups = {"A (2 seeds)": [curve([1.0, 9.0, 5.0], [10, 20, 30]), curve([2.0, 3.0, 7.0], [10, 20, 50])],
              "B (1 seed)": [curve([4.0], [100])]}
    a, b = summary(groups)
    assert a == {"label": "A (2 seeds)", "seeds": 2, "final_return_mean": 6.0, "final_return_std": 1.0,
                 "best_return": 8.0, "env_steps": 40.0}
    assert b["final_return_mean"] == b["best_return"] == 4.0 and b["final_return_std"] == 0.0
    assert not math.isnan(b["env_steps"]) and b["env_steps"] == 100.0
