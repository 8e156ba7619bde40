"""The games a server keeps: one `Session` per game, no web in it.

A session is a `Game` (explain.py: an environment, its observations and the
moves so far) plus who plays which side: in a two-player game the human
takes one side and the agent answers every move of the other; in a
single-player env the human only watches, stepping the agent one decision
at a time. The agent's search at each of its decisions is kept: its root
value over the game (as player 0 sees it) is the page's chart, and the last
one is shown beside the board. Undo replays the moves from the start, so it
works for every environment, copyable or not.
"""

from __future__ import annotations

import base64
import io
import secrets
from collections import OrderedDict
from typing import Any

import numpy as np

from zeroplan.explain import ExplainError, Game, search_position
from zeroplan.mcts.describe import describe_node


class SessionError(ValueError):
    """A request the game cannot take; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _board(env, num_actions: int, players: int) -> dict | None:
    """The stones of a native two-player board game, and what a click on it
    means ("cell": the action is the cell's index; "column": the column's).
    A one-player env's board (2048's tiles) is not stones to click: it is shown as text."""
    board = getattr(env, "board", None)
    if players != 2 or not callable(board):
        return None
    cells = np.asarray(board())
    if cells.ndim == 1:
        side = int(round(cells.size ** 0.5))
        if side * side != cells.size or cells.size != num_actions:
            return None
        return {"cells": cells.reshape(side, side).tolist(), "click": "cell"}
    if cells.ndim == 2 and cells.shape[1] == num_actions:
        return {"cells": cells.tolist(), "click": "column"}
    return None


def _png(frame: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", optimize=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class Session:
    """One game. `human` is the side the human plays (0 or 1), None to watch a single-player agent."""

    def __init__(self, agent, human: int | None, seed: int = 0, make_env=None):
        self.agent, self.human, self.seed = agent, human, seed
        self.make_env = make_env or agent.env_factory
        self._restart([])

    def close(self) -> None:
        """Close the game's environment (a rendering env may hold a window or a pygame surface)."""
        game = getattr(self, "game", None)
        close = getattr(game.env, "close", None) if game is not None else None
        if callable(close):
            close()

    def _restart(self, moves: list[int]) -> None:
        self.close()
        env = self.make_env()
        self.game = Game(env, self.seed, [env.reset(seed=self.seed)])
        self.movers: list[int] = []
        self.values: list[dict] = []
        self.last_search: dict | None = None
        self.last_arrays = None  # the trees of the agent's last search (mcts.tree.Tree), for the picture
        self.total = 0.0
        for move in moves:
            self._play(move)

    @property
    def players(self) -> int:
        return self.agent.spec.num_players

    def _play(self, action: int) -> None:
        mover = int(self.game.env.to_play())
        reward, _ = self.game.play(action)
        self.movers.append(mover)
        self.total += reward
        self.last_reward, self.last_mover = reward, mover

    def agent_move(self) -> dict:
        """The agent searches the position and plays; its search is kept."""
        if self.game.over:
            raise SessionError("the game is over: start a new one", 409)
        data = search_position(self.agent, self.game, top=0, keep_arrays=True)
        self.last_arrays = data.pop("arrays")
        ply = len(self.game.moves)
        value = data["root_value"] if data["to_play"] == 0 or self.players == 1 else -data["root_value"]
        self.values.append({"ply": ply, "value": value})
        self._play(data["action"])
        self.last_search = data
        return data

    def _agent_replies(self) -> None:
        while not self.game.over and self.human is not None and self.game.env.to_play() != self.human:
            self.agent_move()

    def start(self) -> None:
        self._agent_replies()  # the agent moves first when the human took the second side

    def human_move(self, action: int) -> None:
        if self.human is None:
            raise SessionError("this is a single-player environment: the agent plays it; use step", 409)
        if self.game.over:
            raise SessionError("the game is over: start a new one", 409)
        if self.game.env.to_play() != self.human:
            raise SessionError("it is not your turn", 409)
        try:
            self._play(action)  # Game.play checks the move
        except ExplainError as err:
            raise SessionError(str(err), 400) from None
        self._agent_replies()

    def step(self) -> None:
        if self.game.over:
            raise SessionError("the game is over: start a new one", 409)
        if self.human is not None and self.game.env.to_play() == self.human:
            raise SessionError("it is your turn: play a move", 409)
        self.agent_move()

    def undo(self) -> None:
        """Back to before the human's last move (the agent's replies go too); single-player: one step back."""
        if self.human is None:
            keep = len(self.movers) - 1
        else:
            mine = [i for i, m in enumerate(self.movers) if m == self.human]
            keep = mine[-1] if mine else -1
        if keep < 0:
            raise SessionError("nothing to undo", 409)
        values = self.values
        self._restart(self.game.moves[:keep])
        self.values = [v for v in values if v["ply"] < keep]

    def tree(self, top: int, depth: int) -> dict:
        """For the picture: the agent's last search (its tree cut to `top` and
        `depth`), or, before it has moved, its search at the current position."""
        if self.last_search is None:
            return self.search_here(top=top, depth=depth)
        return {**self.last_search, "tree": describe_node(self.last_arrays, 0, top=top, depth=depth)}

    def search_here(self, top: int = 0, depth: int = 3) -> dict:
        """The agent's search at the current position, without playing it (analysis)."""
        if self.game.over:
            raise SessionError("the game is over: there is no position to search", 409)
        return search_position(self.agent, self.game, top=top, depth=depth)

    def state(self) -> dict[str, Any]:
        env, game = self.game.env, self.game
        out: dict[str, Any] = {
            "moves": list(game.moves), "over": game.over, "to_play": None if game.over else int(env.to_play()),
            "legal": [] if game.over else np.flatnonzero(game.legal()).tolist(), "human": self.human,
            "values": self.values, "search": self.last_search,
            "board": _board(env, self.agent.spec.num_actions, self.players),
            "text": None, "frame": None, "steps": len(game.moves), "return": self.total, "winner": None,
        }
        if game.over and self.players == 2 and game.moves:
            out["winner"] = None if self.last_reward == 0 else (self.last_mover if self.last_reward > 0
                                                                else 1 - self.last_mover)
        if out["board"] is None:
            render = getattr(env, "render", None)
            if callable(render):
                try:
                    shown = render()
                except Exception:  # drawing is a nicety: a failure never ends the game
                    shown = None
                if isinstance(shown, str):
                    out["text"] = shown
                elif isinstance(shown, np.ndarray) and shown.ndim == 3:
                    out["frame"] = _png(np.ascontiguousarray(shown[..., :3]).astype(np.uint8))
        return out


class Sessions:
    """The open games, by id; the oldest are dropped past `limit`, so a client
    that opens games without end cannot fill the memory."""

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._games: OrderedDict[str, Session] = OrderedDict()

    def add(self, session: Session) -> str:
        key = secrets.token_hex(8)
        self._games[key] = session
        while len(self._games) > self.limit:
            self._games.popitem(last=False)[1].close()
        return key

    def get(self, key: Any) -> Session:
        if not isinstance(key, str) or key not in self._games:
            raise SessionError("no such game (it may have been closed): start a new one", 404)
        self._games.move_to_end(key)
        return self._games[key]
