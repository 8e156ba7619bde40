"""Run metrics: one CSV row per log event and TensorBoard scalars, under the
names Stable-Baselines3 users already read (rollout/ep_rew_mean, eval/mean_reward, ...)."""

from __future__ import annotations

import csv
from pathlib import Path


class MetricsLogger:
    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._csv_path = self.run_dir / "metrics.csv"
        self._rows: list[dict[str, float]] = []
        self._fields: list[str] = []
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency; stay usable without it
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"))

    def log(self, step: int, scalars: dict[str, float]) -> None:
        row = {"env_steps": step, **scalars}
        if self._writer is not None:
            for k, v in scalars.items():
                self._writer.add_scalar(k, v, step)
        new = [k for k in row if k not in self._fields]
        self._rows.append(row)
        if new:
            self._fields += new
            self._rewrite()
        else:
            with open(self._csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields).writerow(row)

    def _rewrite(self) -> None:
        with open(self._csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields)
            w.writeheader()
            w.writerows(self._rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
