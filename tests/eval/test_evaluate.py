"""Evaluation bookkeeping: quotas, and win/draw/loss counts from the right side."""

from __future__ import annotations

import numpy as np

from zeroplan.config import load_config
from zeroplan.envs.experts import RandomExpert, TicTacToeMinimax
from zeroplan.envs.games.tictactoe import TicTacToe
from zeroplan.eval.evaluate import _quotas, evaluate_vs
from zeroplan.runners.local import LocalRunner


def test_quotas_split_episodes_over_envs():
    assert _quotas(20, 8) == [3, 3, 3, 3, 2, 2, 2, 2]
    assert _quotas(3, 8) == [1, 1, 1]
    assert sum(_quotas(101, 16)) == 101


def test_counts_against_perfect_and_random_play():
    config = load_config("tictactoe", dotted=["search.num_simulations=4", "train.num_envs=8"])
    runner = LocalRunner(config, run_dir=None)  # an untrained agent
    perfect = evaluate_vs(runner.model, config, TicTacToe, TicTacToeMinimax(), 24, seed=0)
    for side in ("first", "second"):
        assert sum(perfect[side].values()) == 24
        assert perfect[side]["wins"] == 0  # nobody beats perfect play
    assert perfect["first"]["losses"] + perfect["second"]["losses"] > 0  # and an untrained agent loses some

    against_random = evaluate_vs(runner.model, config, TicTacToe, RandomExpert(), 24, seed=1)
    assert all(sum(v.values()) == 24 for v in against_random.values())
    assert against_random["first"]["wins"] + against_random["second"]["wins"] > 0
