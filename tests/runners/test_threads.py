"""A runner owns its process's compute threads: torch's pool as configured,
numpy's BLAS at one thread (search-sized products; see runners.local.limit_threads)."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from zeroplan.config import load_config
from zeroplan.runners.local import LocalRunner


def _blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_runner_holds_blas_to_one_thread():
    before_torch = torch.get_num_threads()
    with threadpool_limits(limits=2, user_api="blas"):  # the caller's setting comes back on exit
        if not _blas_threads() or max(_blas_threads()) < 2:
            pytest.skip("numpy's BLAS cannot run 2 threads here, so a limit of 1 cannot be told apart")
        try:
            LocalRunner(load_config("cartpole", dotted=["run.torch_threads=1"]), None, tensorboard=False)
            assert _blas_threads() and all(n == 1 for n in _blas_threads())
            assert torch.get_num_threads() == 1
        finally:
            torch.set_num_threads(before_torch)
