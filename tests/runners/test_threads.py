"""A runner owns its process's compute threads: torch's pool as configured (with
`auto`, the cores free when it starts), numpy's BLAS at one thread (search-sized
products; see runners.local.limit_threads)."""

from __future__ import annotations

import itertools

import torch
from threadpoolctl import threadpool_info, threadpool_limits

import zeroplan.runners.local as local
from zeroplan.config import load_config
from zeroplan.runners.local import LocalRunner


def test_runner_holds_blas_to_one_thread(monkeypatch):
    calls = []

    def recording_limits(*args, **kwargs):
        calls.append((args, kwargs))
        return threadpool_limits(*args, **kwargs)

    monkeypatch.setattr(local, "threadpool_limits", recording_limits)
    before_torch = torch.get_num_threads()
    with threadpool_limits(limits=2, user_api="blas"):  # the caller's setting comes back on exit
        try:
            LocalRunner(load_config("cartpole", dotted=["run.torch_threads=1"]), None, tensorboard=False)
            assert calls == [((), {"limits": 1, "user_api": "blas"})]
            blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
            assert blas and all(n == 1 for n in blas)
            assert torch.get_num_threads() == 1
        finally:
            torch.set_num_threads(before_torch)


def _machine(monkeypatch, cores: int, idle_share, allowed: int | None = None, quota: float | None = None):
    """A simulated machine: `cores` CPUs with the given share idle over the sample
    (one share for all, or one per CPU); this process may run on the first
    `allowed` of them, under a cgroup quota."""
    import zeroplan.io.cpu as cpu

    shares = idle_share if isinstance(idle_share, list) else [idle_share] * cores
    # Counters that grow by the same amounts between any two reads.
    reads = itertools.count()
    samples = (({c: (100.0 * shares[c] * n, 100.0 * n) for c in range(cores)}) for n in reads)
    monkeypatch.setattr(cpu, "allowed_cpus", lambda: list(range(allowed or cores)))
    monkeypatch.setattr(cpu, "cgroup_cpu_limit", lambda: quota)
    monkeypatch.setattr(cpu, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(cpu.time, "sleep", lambda s: None)
    return cpu


def test_auto_threads_take_the_cores_left_free(monkeypatch):
    for cores, idle, want in [(2, 0.98, 2), (2, 0.5, 1), (2, 0.0, 1), (8, 0.75, 6), (8, 0.3, 2)]:
        cpu = _machine(monkeypatch, cores, idle)
        n, note = cpu.resolve_threads("auto")
        assert n == want, (cores, idle)
        assert f"{cores} cores" in note and "busy" in note
    assert _machine(monkeypatch, 2, 0.0).resolve_threads(2) == (2, None)  # a count is taken as it is
    # Pinned to the 2 idle CPUs of a machine whose other 6 are busy: the work elsewhere does not count.
    assert _machine(monkeypatch, 8, [1.0, 1.0] + [0.0] * 6, allowed=2).resolve_threads("auto")[0] == 2
    # A container's quota of 2 cores on an idle 64-core host: 2, not 64.
    assert _machine(monkeypatch, 64, 1.0, quota=2.0).resolve_threads("auto")[0] == 2
    assert _machine(monkeypatch, 64, 1.0, quota=1.5).resolve_threads("auto")[0] == 2  # 1.5 cores: two threads


def test_a_runner_on_a_busy_machine_starts_with_fewer_threads_and_says_so(monkeypatch):
    _machine(monkeypatch, 2, 0.5)  # another process keeps one of two cores busy
    runner = LocalRunner(load_config("connect4"), None, tensorboard=False)
    assert load_config("connect4").run.torch_threads == "auto"
    assert runner.torch_threads == 1 and torch.get_num_threads() == 1
    assert any("torch_threads auto: 1" in note for note in runner.notes)


def test_a_resumed_run_keeps_the_count_auto_chose(monkeypatch, tmp_path):
    tiny = ["search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=16", "replay.batch_size=8",
            "net.hidden=[16]", "net.latent_dim=8", "run.eval_interval=1000", "run.torch_threads=auto"]
    _machine(monkeypatch, 2, 0.5)  # busy when the run starts: one thread
    a = LocalRunner(load_config("tictactoe", dotted=tiny), tmp_path / "run", tensorboard=False)
    a.train(max_env_steps=40)
    a.close()
    _machine(monkeypatch, 2, 1.0)  # idle now: a new run would take two
    assert LocalRunner(load_config("tictactoe", dotted=tiny), None, tensorboard=False).torch_threads == 2
    b = LocalRunner.resume(tmp_path / "run", tensorboard=False)
    assert b.torch_threads == 1 and torch.get_num_threads() == 1
    assert any("as when the run started" in note for note in b.notes)
    c = LocalRunner.resume(tmp_path / "run", {"run": {"torch_threads": 2}}, tensorboard=False)
    assert c.torch_threads == 2  # a count given on resume wins
