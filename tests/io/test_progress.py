"""The training progress bar: a resumed run's bar starts where the run is."""

from __future__ import annotations

from zeroplan.io.progress import TrainProgress, progress_and_callback


def test_a_resumed_runs_bar_starts_at_its_env_steps():
    with TrainProgress(1000, transient=True, start=400) as bar:
        assert bar.progress.tasks[0].completed == 400
        bar.update({"env_steps": 600, "train/loss": 0.5})
        assert bar.progress.tasks[0].completed == 600
    with TrainProgress(1000, transient=True) as bar:
        assert bar.progress.tasks[0].completed == 0


def test_the_callback_gets_every_row_with_the_bar():
    rows = []
    with progress_and_callback(100, True, rows.append, start=30) as progress:
        progress({"env_steps": 50})
    assert rows == [{"env_steps": 50}]
