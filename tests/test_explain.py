"""`zeroplan explain`: the search tree of one decision, as data and as a picture."""

from __future__ import annotations

import json

import numpy as np

import zeroplan
from tests.helpers import run_cli_out
from zeroplan.explain import replay_moves, search_position


def test_a_board_position_as_svg_and_json(tmp_path):
    out = tmp_path / "tree.svg"
    code, stdout, err = run_cli_out("explain", "pretrained:tictactoe", "--position", "0 4", "--out", str(out),
                                    "--json", "--top", "2", "--depth", "2")
    assert code == 0, err
    data = json.loads(stdout.strip().splitlines()[-1])
    assert data["moves_so_far"] == [0, 4] and data["to_play"] == 0
    assert sorted(m["action"] for m in data["moves"]) == [1, 2, 3, 5, 6, 7, 8]  # every legal move, no other
    assert sum(m["visits"] for m in data["moves"]) == data["simulations"]
    assert data["pv"][0] == data["action"] and data["action"] in (1, 2, 3, 5, 6, 7, 8)
    assert all(len(e.get("child", {"children": []})["children"]) <= 2 for e in data["tree"]["children"])
    svg = out.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and f"plays {data['action']}" in svg and "N=" in svg


def test_the_picture_is_what_the_agent_plays():
    agent = zeroplan.pretrained("tictactoe")
    game = replay_moves(agent, [4, 0, 8])
    data = search_position(agent, game)
    env = game.env
    assert data["action"] == agent.predict(game.observation(agent), env.legal_mask(), env.to_play(), env=env)
    assert data["action"] in (2, 6)  # the only moves that do not lose a double threat


def test_a_single_player_decision_by_seed_and_step_as_png(tmp_path):
    out = tmp_path / "tree.png"
    code, stdout, err = run_cli_out("explain", "pretrained:cartpole", "--seed", "2", "--step", "7", "--out",
                                    str(out), "--json")
    assert code == 0, err
    data = json.loads(stdout.strip().splitlines()[-1])
    assert len(data["moves_so_far"]) == 7 and data["env"] == "CartPole-v1"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same position reached by replaying its moves gives the same search.
    agent = zeroplan.pretrained("cartpole")
    again = search_position(agent, replay_moves(agent, data["moves_so_far"], seed=2))
    assert again["action"] == data["action"] and np.isclose(again["root_value"], data["root_value"])


def test_bad_requests_are_named(tmp_path):
    cases = [
        (["--position", "0 0", "--json"], "not legal"),
        (["--position", "0 3 1 4 2 5", "--json"], "over"),
        (["--position", "a b", "--json"], "move numbers"),
        (["--position", "9", "--json"], "not an action"),
        (["--out", str(tmp_path / "tree.txt")], ".svg or .png"),
        ([], "nothing to write"),
        (["--position", "1", "--step", "2", "--json"], "not both"),
    ]
    for args, message in cases:
        code, _, err = run_cli_out("explain", "pretrained:tictactoe", *args)
        assert code == 2 and message in err, (args, err)
    code, _, err = run_cli_out("explain", "pretrained:cartpole", "--step", "100000", "--json")
    assert code == 2 and "ended after" in err
    assert not (tmp_path / "tree.txt").exists()
