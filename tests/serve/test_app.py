"""The web page's API (serve/app.py) through Starlette's test client: games,
undo, single-player stepping, and 500 malformed requests that each get a 4xx
and leave the server working."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("starlette", reason="zeroplan[serve] is not installed")
from starlette.testclient import TestClient  # noqa: E402

import zeroplan  # noqa: E402
from zeroplan.serve.app import env_maker, make_app  # noqa: E402


@pytest.fixture(scope="module")
def tictactoe():
    agent = zeroplan.pretrained("tictactoe")
    return TestClient(make_app(agent, "pretrained:tictactoe", make_env=env_maker(agent)))


@pytest.fixture(scope="module")
def cartpole():
    agent = zeroplan.pretrained("cartpole")
    return TestClient(make_app(agent, "pretrained:cartpole", make_env=env_maker(agent)))


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_info_and_the_page(tictactoe):
    info = _ok(tictactoe.get("/api/info"))
    assert info["env"] == "tictactoe" and info["players"] == 2 and info["num_actions"] == 9
    page = tictactoe.get("/")
    assert page.status_code == 200 and "<script src=\"/app.js\">" in page.text
    assert tictactoe.get("/app.js").status_code == 200 and tictactoe.get("/style.css").status_code == 200


def test_the_agent_answers_every_move_and_the_game_ends(tictactoe):
    state = _ok(tictactoe.post("/api/new", json={"human": 0}))
    assert state["to_play"] == 0 and state["moves"] == [] and state["board"]["click"] == "cell"
    game = state["game"]
    rng = np.random.default_rng(0)
    while not state["over"]:
        move = int(rng.choice(state["legal"]))
        before = len(state["moves"])
        state = _ok(tictactoe.post("/api/move", json={"game": game, "action": move}))
        assert state["moves"][before] == move
        if len(state["moves"]) == before + 2:  # the agent answered with what its search chose
            search = state["search"]
            assert state["moves"][-1] == search["action"]
            assert sum(m["visits"] for m in search["moves"]) == search["simulations"]
        else:
            assert len(state["moves"]) == before + 1 and state["over"]
    assert state["winner"] in (None, 1)  # a random human never beats the shipped perfect player
    assert len(state["values"]) == len(state["moves"]) // 2
    refused = tictactoe.post("/api/move", json={"game": game, "action": 0})
    assert refused.status_code == 409 and "over" in refused.json()["error"]


def test_the_human_can_move_second_and_undo(tictactoe):
    state = _ok(tictactoe.post("/api/new", json={"human": 1}))
    assert len(state["moves"]) == 1 and state["to_play"] == 1  # the agent opened
    game = state["game"]
    first = state["moves"][0]
    move = state["legal"][0]
    state = _ok(tictactoe.post("/api/move", json={"game": game, "action": move}))
    assert state["moves"][:2] == [first, move] and len(state["moves"]) == 3
    state = _ok(tictactoe.post("/api/undo", json={"game": game}))
    assert state["moves"] == [first] and state["to_play"] == 1 and len(state["values"]) == 1
    refused = tictactoe.post("/api/undo", json={"game": game})
    assert refused.status_code == 409 and "nothing to undo" in refused.json()["error"]
    out_of_turn = tictactoe.post("/api/step", json={"game": game})
    assert out_of_turn.status_code == 409


def test_search_and_tree_of_the_current_position(tictactoe):
    game = _ok(tictactoe.post("/api/new", json={"human": 0}))["game"]
    search = _ok(tictactoe.post("/api/search", json={"game": game}))
    assert len(search["moves"]) == 9 and search["pv"][0] == search["action"]
    svg = tictactoe.get("/api/tree.svg", params={"game": game, "top": 2, "depth": 2})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text and "N=" in svg.text


def test_a_single_player_agent_is_watched_step_by_step(cartpole):
    info = _ok(cartpole.get("/api/info"))
    assert info["players"] == 1
    assert cartpole.post("/api/new", json={"human": 0}).status_code == 400
    state = _ok(cartpole.post("/api/new", json={"human": None, "seed": 3}))
    assert state["frame"] is not None and state["board"] is None  # drawn as a PNG frame
    game = state["game"]
    for step in range(1, 6):
        state = _ok(cartpole.post("/api/step", json={"game": game}))
        assert state["steps"] == step and state["return"] == step
    assert cartpole.post("/api/move", json={"game": game, "action": 0}).status_code == 409
    state = _ok(cartpole.post("/api/undo", json={"game": game}))
    assert state["steps"] == 4


def test_the_oldest_games_are_dropped_past_the_limit():
    agent = zeroplan.pretrained("tictactoe")
    client = TestClient(make_app(agent, "t", limit=3))
    games = [_ok(client.post("/api/new", json={"human": 0}))["game"] for _ in range(4)]
    assert client.post("/api/search", json={"game": games[0]}).status_code == 404
    assert client.post("/api/search", json={"game": games[-1]}).status_code == 200


def _malformed(rng: random.Random, game: str) -> tuple[str, str, dict]:
    """One bad request: (method, path, keyword arguments for the client)."""
    junk_values = [None, True, False, -1, 2**40, 1.5, "3", "", "x" * 5000, [], [1], {}, {"a": 1}, float("nan")]
    kind = rng.randrange(9)
    if kind == 0:  # bytes that are not JSON
        return "POST", rng.choice(["/api/move", "/api/new", "/api/undo", "/api/step", "/api/search"]), \
            {"headers": {"content-type": "application/json"}, "content": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))}
    if kind == 1:  # JSON, but not an object
        return "POST", "/api/move", {"headers": {"content-type": "application/json"}, "content": rng.choice([json.dumps([1, 2]), '"move"', "3", "null",
                                                                       "[" * 5000, '{"a":' * 3000])}
    if kind == 2:  # a move with a wrong field
        body = {"game": game, "action": rng.choice(junk_values)}
        return "POST", "/api/move", {"headers": {"content-type": "application/json"}, "content": json.dumps(body, allow_nan=True)}
    if kind == 3:  # a bad game id
        return "POST", rng.choice(["/api/move", "/api/undo", "/api/step", "/api/search"]), \
            {"json": {"game": rng.choice(junk_values[:-1] + ["nope", game[::-1]]), "action": 4}}
    if kind == 4:  # extra or missing fields
        return "POST", rng.choice(["/api/move", "/api/new"]), \
            {"json": rng.choice([{}, {"game": game}, {"game": game, "action": 1, "extra": 1}, {"human": 2},
                                 {"human": "0"}, {"human": 0, "seed": -5}])}
    if kind == 5:  # an oversized body, or one that is not declared as JSON (a cross-site form)
        return "POST", "/api/move", rng.choice([{"headers": {"content-type": "application/json"}, "content": b'{"game": "' + b"a" * 10_000 + b'"}'},
                                                {"content": json.dumps({"game": game, "action": 1})},
                                                {"data": {"game": game, "action": "1"}}])
    if kind == 6:  # paths that are not served, outside the app or the run
        return "GET", rng.choice(["/../../etc/passwd", "/static/../meta.json", "/checkpoints/best", "/app.js/x",
                                  "/api/../../weights.safetensors", "/%2e%2e/%2e%2e/etc/passwd", "/api/nothing"]), {}
    if kind == 7:  # the wrong method
        return rng.choice(["GET", "PUT", "DELETE"]), rng.choice(["/api/move", "/api/new", "/api/undo"]), {}
    return "GET", "/api/tree.svg", {"params": rng.choice([{"game": game, "top": "x"}, {"game": game, "top": 99},
                                                           {"game": game, "depth": 0}, {"game": "nope"}, {}])}


def test_five_hundred_malformed_requests_get_4xx_and_the_server_keeps_working(tictactoe):
    game = _ok(tictactoe.post("/api/new", json={"human": 0}))["game"]
    rng = random.Random(0)
    statuses = {}
    for _ in range(500):
        method, path, kwargs = _malformed(rng, game)
        response = tictactoe.request(method, path, **kwargs)  # a server exception would raise here
        assert 400 <= response.status_code < 500, (method, path, kwargs, response.status_code, response.text[:200])
        ours = path in ("/api/move", "/api/new", "/api/undo", "/api/step", "/api/search", "/api/tree.svg")
        if ours and response.status_code != 405:  # the app's own refusals name the problem
            assert response.json()["error"]
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    assert {400, 404, 405, 409, 413, 415} <= set(statuses) or len(statuses) >= 5, statuses
    state = _ok(tictactoe.post("/api/move", json={"game": game, "action": 4}))
    assert state["moves"][0] == 4 and len(state["moves"]) == 2


def test_the_tree_is_the_agents_last_search(tictactoe):
    state = _ok(tictactoe.post("/api/new", json={"human": 1}))  # the agent opens
    svg = tictactoe.get("/api/tree.svg", params={"game": state["game"], "top": 2, "depth": 2}).text
    assert f"plays {state['search']['action']}" in svg and f"plays {state['moves'][0]}" in svg


def test_a_server_on_loopback_answers_only_its_own_host_names():
    agent = zeroplan.pretrained("tictactoe")
    client = TestClient(make_app(agent, "t", hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1:8000")
    assert client.get("/api/info").status_code == 200
    assert client.get("/api/info", headers={"host": "attacker.example"}).status_code == 400


def test_numbers_json_cannot_hold_become_null():
    from zeroplan.serve.app import _JSON

    body = json.loads(_JSON({"v": float("nan"), "w": [float("inf"), 1.5]}).body)
    assert body == {"v": None, "w": [None, 1.5]}


def test_only_two_player_boards_are_drawn_as_stones():
    from zeroplan.envs.games.connect4 import Connect4
    from zeroplan.envs.games.g2048 import Game2048
    from zeroplan.serve.session import _board

    tiles = Game2048()
    tiles.reset(seed=0)
    assert _board(tiles, 4, players=1) is None  # 4x4 tiles and 4 moves: not a column game
    board = Connect4()
    board.reset()
    board.step(3)
    drawn = _board(board, 7, players=2)
    assert drawn["click"] == "column" and drawn["cells"][5][3] == 1
