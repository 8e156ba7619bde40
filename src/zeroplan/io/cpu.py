"""How many cores this machine can give a run now, for `run.torch_threads: auto`.

A thread count fixed in a config is right only on the machine it was measured
on, idle: with another busy process beside it, a run whose torch pool expects
two free cores loses far more than half its speed (threads wait on each other
at every operation). So `auto` looks before it starts: the cores this process
may run on (its CPU affinity, capped by a cgroup CPU quota such as a
container's), less the work already running on those same cores (Linux's
per-CPU counters in /proc/stat, sampled over a fraction of a second;
elsewhere the one-minute load average; where neither exists, all the cores
are taken as free).
"""

from __future__ import annotations

import math
import os
import time


def allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on, or None where the system does not say."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None


def cgroup_cpu_limit() -> float | None:
    """Cores' worth of CPU time a cgroup (v2 `cpu.max`, v1 `cpu.cfs_quota_us`) allows, or None."""
    for quota_file, period_file in (("/sys/fs/cgroup/cpu.max", None),
                                    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            with open(quota_file) as f:
                fields = f.read().split()
            if period_file is None:
                quota, period = fields[0], fields[1]
            else:
                with open(period_file) as f:
                    quota, period = fields[0], f.read().split()[0]
            if quota in ("max", "-1"):
                return None
            return float(quota) / float(period)
        except (OSError, IndexError, ValueError, ZeroDivisionError):
            continue
    return None


def usable_cores() -> int:
    """Cores this process may run on: its affinity, capped by a cgroup quota."""
    cpus = allowed_cpus()
    cores = len(cpus) if cpus else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def _cpu_times() -> dict[int, tuple[float, float]] | None:
    """Per CPU: (idle, total) jiffies since boot, or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            lines = f.readlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        fields = line.split()
        if fields and fields[0].startswith("cpu") and fields[0][3:].isdigit():
            values = [float(x) for x in fields[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
            out[int(fields[0][3:])] = (idle, sum(values[:8]))  # user .. steal (guest is counted in user)
    return out or None


def busy_cores(sample_s: float = 0.25) -> float | None:
    """Cores' worth of work running now on the CPUs this process may use (this
    process is asleep while it measures), or None where it cannot be measured."""
    before = _cpu_times()
    if before is not None:
        time.sleep(sample_s)
        after = _cpu_times()
        cpus = allowed_cpus() or sorted(before)
        busy = 0.0
        for cpu in cpus:
            if cpu in before and after is not None and cpu in after and after[cpu][1] > before[cpu][1]:
                idle = (after[cpu][0] - before[cpu][0]) / (after[cpu][1] - before[cpu][1])
                busy += min(1.0, max(0.0, 1.0 - idle))
        return busy
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def free_cores(sample_s: float = 0.25) -> tuple[int, str]:
    """The cores free for this run now (at least 1), and how that was found, to print."""
    cores = usable_cores()
    cpus = allowed_cpus()
    busy = busy_cores(sample_s)
    if busy is None:
        return cores, f"{cores} cores, load unknown"
    # With a quota below the CPUs it may use, the other work shares those CPUs, not the quota.
    free = max(1, min(cores, int((len(cpus) if cpus else cores) - busy + 0.5)))
    return free, f"{cores} cores, {busy:.1f} busy with other work"


def resolve_threads(setting: int | str) -> tuple[int, str | None]:
    """`run.torch_threads` as a count, with a note to print when it was chosen here."""
    if setting != "auto":
        return int(setting), None
    n, why = free_cores()
    return n, f"run.torch_threads auto: {n} ({why})"
