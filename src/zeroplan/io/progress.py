"""A rich progress bar for training: env steps, return, loss, search speed."""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainProgress:
    def __init__(self, total_env_steps: int, transient: bool = False, start: int = 0):
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("env steps"),
            TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=transient)
        self.total = total_env_steps
        self.start = min(start, total_env_steps)  # a resumed run's env steps so far
        self.fields: dict[str, float] = {}

    def __enter__(self) -> TrainProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task("train", total=self.total, completed=self.start, info="")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, metrics: dict) -> None:
        self.fields.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        parts = []
        for key, label, fmt in (("rollout/ep_rew_mean", "return", "{:.1f}"), ("eval/mean_reward", "eval", "{:.1f}"),
                                ("train/loss", "loss", "{:.3f}"), ("search/sims_per_s", "sims/s", "{:,.0f}")):
            v = self.fields.get(key)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                parts.append(f"{label} {fmt.format(v)}")
        self.progress.update(self.task, completed=min(metrics.get("env_steps", 0), self.total),
                             info="  ".join(parts))


@contextlib.contextmanager
def progress_and_callback(total_env_steps: int, progress_bar: bool, callback: Callable[[dict], None] | None,
                          start: int = 0) -> Iterator[Callable[[dict], None] | None]:
    """The one progress function a training loop calls with each logged row:
    the bar's update, the user's callback, both, or None. The bar starts at
    `start` env steps (a resumed run's)."""
    if not progress_bar:
        yield callback
        return
    with TrainProgress(total_env_steps, start=start) as bar:
        if callback is None:
            yield bar.update
            return

        def both(row: dict) -> None:
            bar.update(row)
            callback(row)

        yield both
