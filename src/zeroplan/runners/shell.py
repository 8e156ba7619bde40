"""The run-loop shell every training loop shares: the local runner, the Ray
runner and PETS. It owns what a run does around its own work:

- the clock: this call's time budget (`max_minutes`) and the run's total seconds;
- stop signals: SIGINT/SIGTERM are caught for the whole call and end it at the
  next check, with the run saved;
- checkpoint points: `checkpoints/last` before the first step of a new run,
  every `run.checkpoint_seconds`, after an environment fault (then the fault is
  re-raised, saying how to resume) and at the end;
- evaluation with one keep-best rule: the newest of equal evaluations is kept
  (it has trained longer), and the target return stops the run;
- periodic points (`Every`) and the replay ratio's bookkeeping (`ReplayRatio`).

The loops themselves stay in their own files and read top to bottom.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from zeroplan.envs.gym import EnvError
from zeroplan.io.checkpoint import CheckpointError
from zeroplan.io.logging import MetricsLogger
from zeroplan.io.signals import EvaluationStopped, catch_stop_signals

Progress = Callable[[dict], None]


class RunDirError(CheckpointError):
    """A run directory that cannot be used as asked (e.g. a new run over a saved one)."""


def refuse_existing_run(run_dir: Path | None) -> None:
    """A new run never writes over a saved one."""
    if run_dir is None:
        return
    ckpts = Path(run_dir) / "checkpoints"
    if ckpts.is_dir() and any(ckpts.iterdir()):
        raise RunDirError(f"{run_dir} already holds a run; continue it with `zeroplan train --resume {run_dir}` "
                          "or choose another run directory")


@dataclass
class RunResult:
    """What a training call reports; every algorithm's result extends it."""

    env_steps: int = 0
    seconds: float = 0.0
    best_eval: float = -float("inf")
    eval_seconds: float = 0.0
    evals: list[dict] = field(default_factory=list)
    solved_at: dict | None = None
    stopped_by_signal: int | None = None  # SIGINT/SIGTERM: state saved, run stopped early


class Every:
    """A point every `interval` units (env steps, episodes), after `now`."""

    def __init__(self, interval: int, now: int):
        self.interval = interval
        self.next = (now // interval + 1) * interval

    def due(self, now: int) -> bool:
        """True once `now` has reached the next point, which then moves past `now`."""
        if now < self.next:
            return False
        self.next = (now // self.interval + 1) * self.interval
        return True


class ReplayRatio:
    """`ratio` updates per env step, counted from when the buffer first held
    `min_replay_size` transitions (a resumed run keeps that origin)."""

    def __init__(self, ratio: float, min_replay_size: int, steps_at_first_training: float | None = None):
        self.ratio = ratio
        self.min_replay_size = min_replay_size
        self.steps_at_first_training = steps_at_first_training

    def updates_due(self, env_steps: int, train_steps: int, replay_size: int) -> int:
        """Updates the data so far allows beyond `train_steps`."""
        if replay_size < self.min_replay_size:
            return 0
        if self.steps_at_first_training is None:
            self.steps_at_first_training = env_steps - train_steps / self.ratio
        return max(0, math.ceil(self.ratio * (env_steps - self.steps_at_first_training)) - train_steps)


class LoopShell:
    """One training call's timers, signals, checkpoints and evaluations.

    `save_last()` writes `checkpoints/last` (or does nothing without a run
    directory) and returns its path; `save_best()` writes `checkpoints/best`."""

    def __init__(self, result: RunResult, run_dir: Path | None, logger: MetricsLogger | None,
                 save_best: Callable[[], object], stop_at_return: float | None):
        self.result = result
        self.run_dir = run_dir
        self.logger = logger
        self.save_best = save_best
        self.stop_at_return = stop_at_return
        self.stop_signal: int | None = None
        self.session_start = self.start = self.last_checkpoint = time.perf_counter()
        self.max_minutes: float | None = None

    # ---- one call -----------------------------------------------------------------------------

    def session(self, loop: Callable[[], None], save_last: Callable[[], Path | None], max_minutes: float | None,
                save_first: bool = True) -> RunResult:
        """Run `loop` with stop signals caught and the clock started; saves before
        the first step of a new run (`save_first`), after an environment fault
        (then re-raises it, saying how to resume) and at the end."""
        res = self.result
        res.stopped_by_signal = None
        self.stop_signal = None
        self.max_minutes = max_minutes
        self.session_start = self.last_checkpoint = time.perf_counter()
        self.start = self.session_start - res.seconds
        restore_handlers = catch_stop_signals(self._on_stop_signal)
        try:
            if save_first and res.env_steps == 0 and self.run_dir is not None:
                save_last()  # a run can be resumed from its first moment
            loop()
        except EnvError as err:
            saved = save_last()
            where = f"; the run state before it is saved in {saved.parent}, resume with " \
                    f"`zeroplan train --resume {self.run_dir}`" if saved else ""
            raise EnvError(f"{err}{where}") from err
        finally:
            restore_handlers()
        res.stopped_by_signal = self.stop_signal
        self.stamp()
        save_last()
        return res

    def _on_stop_signal(self, signum: int) -> None:
        self.stop_signal = signum

    def should_stop(self) -> bool:
        """A stop signal came, or this call's time is up."""
        if self.stop_signal is not None:
            return True
        return self.max_minutes is not None and time.perf_counter() - self.session_start > self.max_minutes * 60

    def elapsed(self) -> float:
        """The run's seconds so far, over every call."""
        return time.perf_counter() - self.start

    def stamp(self) -> None:
        """Bring the result's seconds up to now (before a checkpoint or at the end)."""
        self.result.seconds = self.elapsed()

    def checkpoint_due(self, interval: float) -> bool:
        return time.perf_counter() - self.last_checkpoint >= interval

    def checkpointed(self) -> None:
        self.last_checkpoint = time.perf_counter()

    # ---- logging and evaluation --------------------------------------------------------------

    def log(self, scalars: dict[str, float], progress: Progress | None) -> None:
        """One row of metrics, with the run's seconds so far (`time/elapsed_s`)
        and the part of them spent evaluating (`time/eval_s`), so learning
        curves can be drawn against wall-clock."""
        res = self.result
        scalars = {**scalars, "time/elapsed_s": round(self.elapsed(), 3), "time/eval_s": round(res.eval_seconds, 3)}
        if self.logger:
            self.logger.log(res.env_steps, scalars)
        if progress:
            progress({"env_steps": res.env_steps, **scalars})

    def evaluate(self, evaluate: Callable[[], dict[str, float]], record: dict, progress: Progress | None) -> bool:
        """Time `evaluate()` (its scalars hold `eval/mean_reward`) and record it;
        True when the target return is reached. An evaluation that gives up
        because the run is stopping (EvaluationStopped) records nothing."""
        res = self.result
        elapsed = self.elapsed()
        earlier_evals = res.eval_seconds
        t0 = time.perf_counter()
        try:
            scalars = evaluate()
        except EvaluationStopped:  # the run is stopping: nothing to record
            return False
        finally:
            res.eval_seconds += time.perf_counter() - t0
        return self.record_eval(scalars, {**record, "seconds": elapsed,
                                          "seconds_excluding_eval": elapsed - earlier_evals}, progress)

    def record_eval(self, scalars: dict[str, float], record: dict, progress: Progress | None,
                    before_save: Callable[[], None] | None = None) -> bool:
        """Log an evaluation (`record` says when, and gets the score as
        mean_return) and keep the best checkpoint, the newest among equal
        evaluations (`before_save` first brings the saved network to the
        evaluated weights, when those live elsewhere, as on Ray); True when the
        target return is reached."""
        res = self.result
        score = scalars["eval/mean_reward"]
        record = {**record, "mean_return": score}
        res.evals.append(record)
        self.log(scalars, progress)
        if score >= res.best_eval:  # a tie goes to the newer, longer-trained weights
            res.best_eval = score
            if before_save is not None:
                before_save()
            self.save_best()
        if self.stop_at_return is not None and score >= self.stop_at_return:
            res.solved_at = record
            return True
        return False


class EpisodeEndWatch:
    """Says once when self-play has gone `QUIET_STEPS` env steps without an
    episode ending (nothing reaches replay then, so nothing trains)."""

    QUIET_STEPS = 50_000

    def __init__(self, env_steps: int):
        self.last_end, self.said = env_steps, False

    def saw(self, env_steps: int, ended: int) -> None:
        if ended:
            self.last_end = env_steps
        elif env_steps - self.last_end >= self.QUIET_STEPS and not self.said:
            self.said = True
            warnings.warn(f"no self-play episode has ended in {env_steps - self.last_end:,} env steps, so nothing "
                          "reaches replay; does the env end its episodes? (env.max_episode_steps caps them)",
                          RuntimeWarning, stacklevel=2)


class Rates:
    """Search and env-step rates between two log points."""

    def __init__(self, env_steps: int):
        self.sims_time, self.sims_done = 0.0, 0
        self.since, self.since_steps = time.perf_counter(), env_steps

    def searched(self, seconds: float, sims: int) -> None:
        self.sims_time += seconds
        self.sims_done += sims

    def rates(self, env_steps: int) -> tuple[float, float]:
        """(simulations per second of search, env steps per second) since the last call."""
        now = time.perf_counter()
        out = (self.sims_done / max(self.sims_time, 1e-9),
               (env_steps - self.since_steps) / max(now - self.since, 1e-9))
        self.sims_time, self.sims_done = 0.0, 0
        self.since, self.since_steps = now, env_steps
        return out
