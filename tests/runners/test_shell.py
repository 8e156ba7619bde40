"""The run-loop shell's parts, on their own."""

from __future__ import annotations

import math
import signal

import pytest

from zeroplan.runners.shell import Every, LoopShell, ReplayRatio, RunResult


def test_every_fires_once_per_interval_and_skips_to_the_next_point():
    points = Every(100, now=0)
    fired = [steps for steps in range(0, 450, 8) if points.due(steps)]
    assert fired == [104, 200, 304, 400]
    resumed = Every(100, now=250)  # a resumed run's next point is after where it stopped
    assert not resumed.due(299) and resumed.due(300)


def test_replay_ratio_counts_from_the_first_full_buffer():
    ratio = ReplayRatio(0.25, min_replay_size=100)
    assert ratio.updates_due(env_steps=64, train_steps=0, replay_size=64) == 0
    assert ratio.updates_due(env_steps=128, train_steps=0, replay_size=128) == 0  # the origin: 128 env steps
    assert ratio.steps_at_first_training == 128
    assert ratio.updates_due(env_steps=136, train_steps=0, replay_size=136) == 2
    assert ratio.updates_due(env_steps=137, train_steps=2, replay_size=137) == math.ceil(0.25 * 9) - 2
    # A resumed run keeps its origin, so it owes exactly what the uninterrupted run would.
    again = ReplayRatio(0.25, 100, steps_at_first_training=128)
    assert again.updates_due(env_steps=200, train_steps=10, replay_size=0) == 0  # (a buffer below the minimum)
    assert again.updates_due(env_steps=200, train_steps=10, replay_size=150) == 18 - 10


def test_keep_best_goes_to_the_newest_of_equal_scores_and_the_target_stops():
    saved = []
    result = RunResult()
    shell = LoopShell(result, None, None, lambda: saved.append(result.env_steps), stop_at_return=5.0)
    for steps, score in [(1, 1.0), (2, 1.0), (3, 0.5), (4, 5.0)]:
        result.env_steps = steps
        stop = shell.record_eval({"eval/mean_reward": score}, {"env_steps": steps}, None)
        assert stop == (score >= 5.0)
    assert saved == [1, 2, 4] and result.best_eval == 5.0
    assert result.solved_at == {"env_steps": 4, "mean_return": 5.0}
    assert [e["mean_return"] for e in result.evals] == [1.0, 1.0, 0.5, 5.0]


def test_a_stop_signal_ends_the_session_saved_and_reports_it():
    result = RunResult()
    shell = LoopShell(result, None, None, lambda: None, stop_at_return=None)
    saves, steps = [], []
    before = signal.getsignal(signal.SIGTERM)

    def loop():
        while not shell.should_stop():
            steps.append(1)
            if len(steps) == 3:
                signal.raise_signal(signal.SIGTERM)  # caught by the shell: the loop ends at its next check

    out = shell.session(loop, lambda: saves.append(len(steps)), max_minutes=None)
    assert out.stopped_by_signal == signal.SIGTERM and len(steps) == 3 and saves == [3]
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the caller's again


def test_max_minutes_stops_the_session():
    shell = LoopShell(RunResult(), None, None, lambda: None, stop_at_return=None)
    shell.session(lambda: None, lambda: None, max_minutes=0.0)
    assert shell.should_stop()  # no time left after the call's start


def test_an_env_fault_saves_first_and_says_how_to_resume(tmp_path):
    from zeroplan.envs.gym import EnvError

    saved = tmp_path / "checkpoints" / "last"
    shell = LoopShell(RunResult(), tmp_path, None, lambda: None, stop_at_return=None)

    def loop():
        raise EnvError("env 0 raised")

    with pytest.raises(EnvError, match="resume with `zeroplan train --resume"):
        shell.session(loop, lambda: saved, max_minutes=None, save_first=False)


def test_a_long_stretch_without_an_episode_end_is_said_once():
    from zeroplan.runners.shell import EpisodeEndWatch

    quiet = EpisodeEndWatch(env_steps=0)
    quiet.saw(10, ended=1)
    with pytest.warns(RuntimeWarning, match="no self-play episode has ended in 50,000 env steps"):
        quiet.saw(50_010, ended=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.saw(60_000, ended=0)  # said once only
