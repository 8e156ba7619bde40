"""The agents that ship with the package: each still meets the figure it was
shipped with (benchmarks/pretrained.py measured them; cards.json records it),
and `pretrained:NAME` works wherever a run directory does."""

from __future__ import annotations

import json

import pytest

import zeroplan
from tests.helpers import run_cli_out
from zeroplan.envs.experts import perfect_play_mistakes
from zeroplan.io.checkpoint import CheckpointError, find_checkpoint
from zeroplan.shipped import card, names

SHIPPED = ["cartpole", "connect4", "lunarlander", "tictactoe"]


def test_the_four_agents_ship_with_their_cards():
    assert names() == SHIPPED
    for name in SHIPPED:
        c = card(name)
        assert c["meets_bar"] and c["env_steps"] > 0 and c["commit"], name


def test_tictactoe_never_loses_to_perfect_play():
    agent = zeroplan.pretrained("tictactoe")
    choose = lambda env: agent.predict(env._observation(), env.legal_mask(), to_play=env.to_play(), env=env)  # noqa: E731
    for player in (0, 1):  # every line the perfect player can choose, both sides
        decided, mistakes = perfect_play_mistakes(choose, player)
        assert decided > 0 and mistakes == []
    result = agent.evaluate(100, opponent="expert")
    assert result["first"]["losses"] == 0 and result["second"]["losses"] == 0


@pytest.mark.slow
def test_connect4_beats_depth_two_alpha_beta_on_both_sides():
    agent = zeroplan.pretrained("connect4")
    result = agent.evaluate(100, opponent="alphabeta:2")
    for side in ("first", "second"):
        assert result[side]["wins"] >= 60, result


def test_cartpole_balances():
    result = zeroplan.pretrained("cartpole").evaluate(20)
    assert result["mean_return"] >= 475, result


@pytest.mark.slow
def test_lunarlander_lands():
    pytest.importorskip("Box2D", reason="LunarLander needs zeroplan[box2d]")
    result = zeroplan.pretrained("lunarlander").evaluate(100)
    assert result["mean_return"] >= 200, result


def test_pretrained_names_work_where_run_directories_do(tmp_path):
    code, stdout, err = run_cli_out("eval", "pretrained:cartpole", "--episodes", "2", "--json")
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["mean_return"] >= 475
    lines = iter(["q"])
    from zeroplan.play import play_command

    printed: list[str] = []
    assert play_command("connect4", "pretrained:connect4", first=False, input_fn=lambda _: next(lines),
                        print_fn=printed.append) == 0
    assert any("the agent plays" in line for line in printed)  # it opened the game, with no training step
    assert find_checkpoint("pretrained:tictactoe").name == "tictactoe"


def test_bad_pretrained_names_and_uses_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no pretrained agent 'chess'.*cartpole"):
        find_checkpoint("pretrained:chess")
    code, _, err = run_cli_out("eval", "pretrained:chess")
    assert code == 2 and "no pretrained agent" in err
    code, _, err = run_cli_out("train", "--resume", "pretrained:cartpole")
    assert code == 2 and "--init-from pretrained:cartpole" in err
    code, _, err = run_cli_out("eval", "pretrained:cartpole", "--checkpoint", "last")
    assert code == 2 and "one checkpoint" in err


def test_a_new_run_can_start_from_a_shipped_agent(tmp_path):
    code, _, err = run_cli_out("train", "cartpole", "--init-from", "pretrained:cartpole", "--max-env-steps", "200",
                               "--run-dir", str(tmp_path / "run"), "--set", "run.eval_interval=100000")
    assert code == 0, err
    assert "initialised from" in err and "shipped" in err
    # 200 env steps are too few to change much: the run still balances as the shipped agent does.
    assert zeroplan.load(tmp_path / "run").evaluate(2)["mean_return"] >= 400
