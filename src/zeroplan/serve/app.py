"""The web application: a page, and a small JSON API over `session.Sessions`.

    GET  /                  the page (static/index.html, app.js, style.css; nothing else is served)
    GET  /api/info          the agent: env, players, actions, search settings
    POST /api/new           {"human": 0 | 1 | null, "seed": int}  -> a new game's state (its "game" id)
    POST /api/move          {"game": id, "action": int}           -> the state after the move and the agent's reply
    POST /api/step          {"game": id}                          -> the agent plays one decision
    POST /api/undo          {"game": id}                          -> back to before the human's last move
    POST /api/search        {"game": id}                          -> the agent's search at the current position
    GET  /api/tree.svg?game=ID&top=3&depth=3                      -> that search's tree as a picture

A request the game cannot take gets a 4xx and {"error": "..."}: malformed
JSON, unknown or extra fields, wrong types (400); an unknown game (404); a
move out of turn or after the end (409); a body over 4 KB (413); a POST that
is not `application/json` (415: a page on another site cannot post a form
to it). Bound to the loopback address, the app answers only Host headers
that name it. Handlers are `async` and await only while reading the body,
before touching a game, so the agent (its random generator, a rules model's
positions) is never used by two requests at once. The tree picture is the
agent's last search (before it has moved: its search at the position).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zeroplan.explain import ExplainError, draw_tree
from zeroplan.serve.session import Session, SessionError, Sessions

MAX_BODY = 4096  # bytes: every request body is a few fields
TREE_TOP, TREE_DEPTH = 10, 6  # the largest tree picture a request may ask for
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewGame(_Body):
    human: Optional[StrictInt] = Field(None, ge=0, le=1)
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1)


class GameRef(_Body):
    game: StrictStr = Field(..., min_length=1, max_length=64)


class Move(GameRef):
    action: StrictInt = Field(..., ge=0, le=2**31 - 1)


def _finite(obj: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers (a diverged network's value must not become a 500)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(_finite(content))


def _error(message: str, status: int) -> JSONResponse:
    return _JSON({"error": message}, status_code=status)


async def _body(request: Request) -> bytes:
    """The body, refused (413) past MAX_BODY bytes without reading the rest."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        raise SessionError(f"request body of {declared} bytes; at most {MAX_BODY}", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise SessionError(f"request body over {MAX_BODY} bytes", 413)
    return body


async def _parse(request: Request, model: type[_Body]) -> _Body:
    # Only JSON: a cross-site form or text/plain POST (sent without a preflight) is refused.
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise SessionError("send the request body as JSON (Content-Type: application/json)", 415)
    body = await _body(request)
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise SessionError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise SessionError("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise SessionError(f"{where}: {first['msg']}") from None


def make_app(agent, name: str, make_env=None, limit: int = 64, hosts: list[str] | None = None) -> Starlette:
    """The application serving `agent` (a loaded MuZero-family agent) under the title `name`;
    `hosts`, the Host headers it answers (None: any), so that a page on another site
    cannot reach a server on 127.0.0.1 through a DNS name of its own."""
    sessions = Sessions(limit)
    config = agent.config
    players = agent.spec.num_players
    pages = {path: resources.files("zeroplan.serve").joinpath("static", file).read_bytes()
             for path, (file, _) in STATIC.items()}

    def page(path: str):
        async def handler(request: Request) -> Response:
            return Response(pages[path], media_type=STATIC[path][1], headers={"Cache-Control": "no-store"})
        return handler

    def state_of(key: str, session: Session) -> dict[str, Any]:
        return {"game": key, **session.state()}

    async def info(request: Request) -> Response:
        return _JSON({"name": name, "env": config.env.id, "players": players,
                             "num_actions": agent.spec.num_actions, "policy": config.search.policy,
                             "simulations": config.search.num_simulations, "search_model": config.search.model})

    async def new(request: Request) -> Response:
        body = await _parse(request, NewGame)
        if players == 2 and body.human is None:
            raise SessionError("human: a two-player game needs the side you play, 0 (first) or 1 (second)")
        if players == 1 and body.human is not None:
            raise SessionError("human: this is a single-player environment; the agent plays it (give null)")
        session = Session(agent, body.human, body.seed, make_env)
        session.start()
        return _JSON(state_of(sessions.add(session), session))

    def action(kind: str):
        async def handler(request: Request) -> Response:
            body = await _parse(request, Move if kind == "move" else GameRef)
            session = sessions.get(body.game)
            if kind == "move":
                session.human_move(body.action)
            elif kind == "step":
                session.step()
            elif kind == "undo":
                session.undo()
            else:
                return _JSON(session.search_here())
            return _JSON(state_of(body.game, session))
        return handler

    async def tree(request: Request) -> Response:
        query = request.query_params
        try:
            top, depth = int(query.get("top", "3")), int(query.get("depth", "3"))
        except ValueError:
            raise SessionError("top and depth must be integers") from None
        if not (1 <= top <= TREE_TOP and 1 <= depth <= TREE_DEPTH):
            raise SessionError(f"top must be 1..{TREE_TOP} and depth 1..{TREE_DEPTH}")
        session = sessions.get(query.get("game"))
        svg = draw_tree(session.tree(top, depth), "svg")
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    async def refused(request: Request, err: Exception) -> Response:
        return _error(str(err), getattr(err, "status", 400))

    routes = [Route(path, page(path)) for path in STATIC]
    routes += [Route("/api/info", info), Route("/api/new", new, methods=["POST"]),
               Route("/api/tree.svg", tree)]
    routes += [Route(f"/api/{kind}", action(kind), methods=["POST"]) for kind in ("move", "step", "undo", "search")]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)] if hosts else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={SessionError: refused, ExplainError: refused})


def serve(agent, name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the page until interrupted (uvicorn)."""
    import uvicorn

    make_env = env_maker(agent)
    # One search before the first visitor: it compiles and caches what the first move would otherwise wait for.
    Session(agent, 0 if agent.spec.num_players == 2 else None, 0, make_env).search_here()
    loopback = host in ("127.0.0.1", "localhost", "::1")
    hosts = ["127.0.0.1", "localhost", "[::1]"] if loopback else None  # bound wider: the user chose to open it
    uvicorn.run(make_app(agent, name, make_env=make_env, hosts=hosts), host=host, port=port, log_level="warning")


def env_maker(agent):
    """Environments for the page: a single-player Gymnasium env drawn as frames
    (or text) when it can be; otherwise the agent's own (board games draw their stones)."""
    from zeroplan.envs.gym import EnvError
    from zeroplan.envs.render import make_render_env, render_modes

    if agent.spec.num_players != 1:
        return agent.env_factory
    try:
        modes = render_modes(agent.config.env)
    except EnvError:
        return agent.env_factory
    for mode in ("rgb_array", "ansi"):
        if mode in modes:
            return lambda: make_render_env(agent.config.env, mode, modes)
    return agent.env_factory
