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


def test_openings_are_every_undecided_move_sequence():
    from zeroplan.envs.games.connect4 import Connect4
    from zeroplan.eval.evaluate import openings

    assert openings(TicTacToe, 0) == [()]
    two = openings(TicTacToe, 2)
    assert len(two) == 9 * 8 and len(set(two)) == 72 and all(a != b for a, b in two)
    assert len(openings(Connect4, 2)) == 49
    # Five plies of tic-tac-toe: the first player has three in a row in 8 lines x 3! orders of
    # its moves x 6 x 5 orders of the second player's; those sequences end the game and are left out.
    five = openings(TicTacToe, 5)
    assert len(five) == 9 * 8 * 7 * 6 * 5 - 8 * 6 * 6 * 5
    for moves in five[::97]:
        game = TicTacToe()
        game.reset(seed=0)
        for a in moves:
            assert game.legal_mask()[a]
            *_, terminated, truncated = game.step(a)
            assert not (terminated or truncated)


def test_games_from_openings_start_there_and_are_counted_once_each():
    from zeroplan.eval.evaluate import openings

    config = load_config("tictactoe", dotted=["search.num_simulations=4", "train.num_envs=8"])
    runner = LocalRunner(config, run_dir=None)
    starts = openings(TicTacToe, 2)
    seen = []

    class Recorder(RandomExpert):
        def act(self, env, rng):
            if int(np.sum(~env.legal_mask())) == 2:  # the opponent's first move after a two-move opening...
                seen.append(tuple(np.flatnonzero(~env.legal_mask())))
            return super().act(env, rng)

    none = {"wins": 0, "draws": 0, "losses": 0}
    assert evaluate_vs(runner.model, config, TicTacToe, Recorder(), 0, seed=0) == {"first": none, "second": none}
    assert evaluate_vs(runner.model, config, TicTacToe, Recorder(), 5, seed=0, starts=[]) == {"first": none,
                                                                                               "second": none}
    result = evaluate_vs(runner.model, config, TicTacToe, Recorder(), 0, seed=0, starts=starts)
    for side in ("first", "second"):
        assert sum(result[side].values()) == len(starts)
    # As second player the opponent moves first after each opening: it sees every opening's two cells once.
    assert sorted(seen) == sorted(tuple(sorted(s)) for s in starts)


def test_an_opening_that_ends_the_game_is_refused():
    import pytest

    from zeroplan.eval.evaluate import _start

    with pytest.raises(ValueError, match="ends the game"):
        _start(TicTacToe(), 0, (0, 3, 1, 4, 2))
    with pytest.raises(ValueError, match="not legal"):
        _start(TicTacToe(), 0, (0, 0))


def test_periodic_evaluation_from_openings():
    from zeroplan.eval.evaluate import openings

    dotted = ["search.num_simulations=4", "train.num_envs=8", "run.eval_opponent=random"]
    config = load_config("tictactoe", dotted=dotted + ["run.eval_openings=2"])
    runner = LocalRunner(config, run_dir=None)
    direct = evaluate_vs(runner.model, config, TicTacToe, RandomExpert(), 0, seed=10_000, starts=openings(TicTacToe, 2))
    assert runner.evaluate() == sum(s["wins"] - s["losses"] for s in direct.values()) / (2 * 72)
    plain = LocalRunner(load_config("tictactoe", dotted=dotted), run_dir=None, net=runner.net)
    games = plain.config.run.eval_episodes
    from_start = evaluate_vs(plain.model, plain.config, TicTacToe, RandomExpert(), games, seed=10_000)
    assert plain.evaluate() == sum(s["wins"] - s["losses"] for s in from_start.values()) / (2 * games)


def test_periodic_evaluation_can_score_the_worse_side(tmp_path):
    """`run.eval_score: worst_side` keeps the checkpoint whose weaker side is
    strongest; both sides are logged either way."""
    import csv

    dotted = ["search.num_simulations=4", "train.num_envs=8", "run.eval_opponent=random", "run.eval_episodes=12"]
    runner = LocalRunner(load_config("tictactoe", dotted=dotted + ["run.eval_score=worst_side"]), run_dir=tmp_path)
    direct = evaluate_vs(runner.model, runner.config, TicTacToe, RandomExpert(), 12, seed=10_000)
    sides = {side: (c["wins"] - c["losses"]) / 12 for side, c in direct.items()}
    assert sides["first"] != sides["second"]  # else min and mean agree and the check below says nothing
    scalars = runner.evaluate_scalars()
    assert scalars == {"eval/mean_reward": min(sides.values()), "eval/first": sides["first"],
                       "eval/second": sides["second"]}
    mean = LocalRunner(load_config("tictactoe", dotted=dotted), run_dir=None, net=runner.net).evaluate()
    assert mean == sum(sides.values()) / 2
    runner.shell.evaluate(runner.evaluate_scalars, {"env_steps": 0}, None)
    runner.close()
    row = next(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert float(row["eval/first"]) == sides["first"] and float(row["eval/second"]) == sides["second"]
    assert float(row["eval/mean_reward"]) == min(sides.values())


def test_a_loaded_agent_can_search_differently(tmp_path):
    import torch

    from zeroplan.muzero.agent import MuZero, load

    agent = MuZero("tictactoe", set=["search.num_simulations=4", "net.hidden=[16]", "net.latent_dim=8"],
                   run_dir=tmp_path / "run", tensorboard=False)
    agent.runner.save("last")
    agent.runner.close()
    plain = load(tmp_path / "run")
    wider = load(tmp_path / "run", search={"num_simulations": 12, "c_scale": 1.0})
    assert plain.config.search.num_simulations == 4
    assert (wider.config.search.num_simulations, wider.config.search.c_scale) == (12, 1.0)
    assert wider.config.net == plain.config.net and wider.config.train == plain.config.train
    for a, b in zip(plain.net.state_dict().values(), wider.net.state_dict().values()):
        assert torch.equal(a, b)
