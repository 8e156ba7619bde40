"""How many cores this machine can give a run now, for `run.torch_threads: auto`.

A thread count fixed in a config is right only on the machine it was measured
on, idle: with another busy process beside it, a run whose torch pool expects
two free cores loses far more than half its speed (threads wait on each other
at every operation). So `auto` looks before it starts: the cores this process
may run on, less what the rest of the machine is using right now (Linux's
/proc/stat sampled over a fraction of a second; elsewhere the one-minute load
average; where neither exists, all the cores are taken as free).
"""

from __future__ import annotations

import os
import time


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def machine_cores() -> int:
    """All the machine's cores (what /proc/stat's totals cover)."""
    return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of the whole machine since boot, or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(x) for x in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return idle, sum(values[:8])  # user .. steal (guest time is already counted in user)


def busy_cores(sample_s: float = 0.25) -> float | None:
    """Cores' worth of work the machine is doing now (all of it: this process is
    asleep while it measures), or None where it cannot be measured."""
    before = _cpu_times()
    if before is not None:
        time.sleep(sample_s)
        after = _cpu_times()
        if after is not None and after[1] > before[1]:
            busy = 1.0 - (after[0] - before[0]) / (after[1] - before[1])
            return max(0.0, busy) * machine_cores()
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def free_cores(sample_s: float = 0.25) -> tuple[int, str]:
    """The cores free for this run now (at least 1), and how that was found, to print."""
    cores = usable_cores()
    busy = busy_cores(sample_s)
    if busy is None:
        return cores, f"{cores} cores, load unknown"
    free = max(1, min(cores, int(cores - busy + 0.5)))
    return free, f"{cores} cores, {busy:.1f} busy with other work"


def resolve_threads(setting: int | str) -> tuple[int, str | None]:
    """`run.torch_threads` as a count, with a note to print when it was chosen here."""
    if setting != "auto":
        return int(setting), None
    n, why = free_cores()
    return n, f"run.torch_threads auto: {n} ({why})"
