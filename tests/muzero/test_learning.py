"""Integration: the whole loop learns a tiny deterministic environment in seconds."""

from __future__ import annotations

import pytest

from zeroplan.runners.local import LocalRunner
from tests.helpers import Chain, small_config

pytestmark = pytest.mark.slow  # end-to-end learning


@pytest.mark.parametrize("policy", ["gumbel", "puct"])
def test_learns_the_chain(policy):
    runner = LocalRunner(small_config(policy), run_dir=None, env_factory=Chain)
    result = runner.train()
    assert result.solved_at is not None, result.evals
    assert runner.evaluate(8) == 1.0


def test_same_seed_same_run(tmp_path):
    def run():
        runner = LocalRunner(small_config("gumbel", **{"run.stop_at_return": "null", "run.max_env_steps": 400}),
                             run_dir=None, env_factory=Chain)
        runner.train()
        return runner.result.train_steps, [e["mean_return"] for e in runner.result.evals], \
            [p.detach().clone() for p in runner.net.parameters()]

    a, b = run(), run()
    assert a[0] == b[0] and a[1] == b[1]
    assert all((x == y).all() for x, y in zip(a[2], b[2]))
