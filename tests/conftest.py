"""Shared test setup. Helpers that tests import live in tests/helpers.py (test
modules never import each other); fixtures live here.

`slow` marks the end-to-end learning, Ray, kill-and-resume and preset-training
tests: `python -m pytest` runs everything (what CI runs), and
`python -m pytest -m "not slow"` is the quick loop while developing."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """Runners set the process's torch thread count (run.torch_threads); each
    test gets it back as it was, so one test's setting does not slow another."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)

