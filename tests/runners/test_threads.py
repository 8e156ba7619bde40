"""A runner owns its process's compute threads: torch's pool as configured (with
`auto`, the cores free when it starts), numpy's BLAS at one thread (search-sized
products; see runners.local.limit_threads)."""

from __future__ import annotations

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


def _machine(monkeypatch, cores: int, idle_share: float):
    """A simulated machine: `cores` cores, the given share of them idle over the sample."""
    import zeroplan.io.cpu as cpu

    samples = iter([(0.0, 0.0), (100.0 * idle_share, 100.0)])
    monkeypatch.setattr(cpu, "usable_cores", lambda: cores)
    monkeypatch.setattr(cpu, "machine_cores", lambda: cores)
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


def test_a_runner_on_a_busy_machine_starts_with_fewer_threads_and_says_so(monkeypatch):
    _machine(monkeypatch, 2, 0.5)  # another process keeps one of two cores busy
    runner = LocalRunner(load_config("connect4"), None, tensorboard=False)
    assert load_config("connect4").run.torch_threads == "auto"
    assert runner.torch_threads == 1 and torch.get_num_threads() == 1
    assert any("torch_threads auto: 1" in note for note in runner.notes)
