"""A runner owns its process's compute threads: torch's pool as configured,
numpy's BLAS at one thread (search-sized products; see runners.local.limit_threads)."""

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
