"""Run metrics: one CSV row per log event and TensorBoard scalars, under the
names Stable-Baselines3 users already read (rollout/ep_rew_mean, eval/mean_reward, ...).

Nothing is kept in memory between rows, so a long run's memory stays flat. A
resumed run continues the same CSV and TensorBoard run: rows and events logged
after the checkpoint it resumes from are dropped, as they will be logged again.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path


class MetricsLogger:
    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._csv_path = self.run_dir / "metrics.csv"
        self._fields: list[str] = []
        self._writer = None
        if resume_step is not None and self._csv_path.exists():
            self._fields, rows = self._read()
            self._rewrite(self._fields, [r for r in rows if _step(r) <= resume_step])
        elif self._csv_path.exists():
            self._csv_path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency; stay usable without it
                SummaryWriter = None
            if SummaryWriter is not None:
                purge = None if resume_step is None else resume_step + 1
                self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=purge)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        row = {"env_steps": step, **scalars}
        if self._writer is not None:
            for k, v in scalars.items():
                self._writer.add_scalar(k, v, step)
        new = [k for k in row if k not in self._fields]
        if new:
            rows = self._read()[1] if self._csv_path.exists() else []
            self._fields += new
            self._rewrite(self._fields, rows + [row])
        else:
            with open(self._csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields).writerow(row)

    def _read(self) -> tuple[list[str], list[dict]]:
        with open(self._csv_path, newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if r.get("env_steps") not in (None, "")]
            return list(reader.fieldnames or []), rows

    def _rewrite(self, fields: list[str], rows: list[dict]) -> None:
        """Atomically: a crash mid-write never leaves a half-written CSV."""
        tmp = self._csv_path.with_name(".metrics.csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self._csv_path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _step(row: dict) -> float:
    try:
        return float(row["env_steps"])
    except (TypeError, ValueError):
        return float("inf")
