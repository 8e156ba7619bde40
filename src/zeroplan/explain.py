"""The search behind one decision, as data and as a picture.

`zeroplan explain` and the web page (`zeroplan serve`) both ask the same
question: the agent stands at a position, what did its search look at? A
`Game` is a position the agent can reach: its environment and the
observations so far (the agent's input is frame-stacked). `search_position`
runs the agent's own search there, without exploration noise, exactly as it
plays, and reads the finished tree back (`mcts.describe`): each legal move's
visits, prior, Q and the improved policy, the root value, the principal
variation, and the tree pruned to the most visited children. `draw_tree`
turns that into an SVG or PNG with matplotlib.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zeroplan.config import ConfigError
from zeroplan.envs.frames import stack_frames
from zeroplan.mcts.describe import count_nodes, describe_node, principal_variation
from zeroplan.mcts.model import plan


class ExplainError(ValueError):
    """A position that cannot be reached or searched (an illegal move, a game already over, ...)."""


@dataclass
class Game:
    """A position reached by `moves` from `env.reset(seed)`; `history` holds every observation."""

    env: Any
    seed: int
    history: list[np.ndarray]
    moves: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    over: bool = False

    @classmethod
    def start(cls, agent, seed: int = 0) -> Game:
        if agent.spec.action_dim or agent.config.search.sampled_actions:
            raise ConfigError(f"{agent.spec.name or 'this env'}: explain and serve show searches over every "
                              "discrete move; this agent samples its actions (Sampled MuZero), which they do not "
                              "show yet (play --record and eval work)")
        if agent.config.net.chance_codes:
            raise ConfigError(f"{agent.spec.name or 'this env'}: explain and serve do not show chance nodes "
                              "(net.chance_codes, Stochastic MuZero) yet; play --record and eval work")
        env = agent.env_factory()
        return cls(env, seed, [env.reset(seed=seed)])

    def legal(self) -> np.ndarray:
        return np.asarray(self.env.legal_mask(), dtype=bool)

    def play(self, action: int) -> tuple[float, bool]:
        """Play a legal `action`; returns (reward, whether the episode ended)."""
        if self.over:
            raise ExplainError("the game is over: no more moves")
        legal = self.legal()
        if not isinstance(action, (int, np.integer)) or isinstance(action, bool) or not 0 <= action < legal.size:
            raise ExplainError(f"move {action!r} is not an action of this game (0..{legal.size - 1})")
        if not legal[action]:
            raise ExplainError(f"move {action} is not legal here; legal: {np.flatnonzero(legal).tolist()}")
        obs, reward, terminated, truncated = self.env.step(int(action))
        self.history.append(obs)
        self.moves.append(int(action))
        self.rewards.append(float(reward))
        self.over = bool(terminated or truncated)
        return float(reward), self.over

    def observation(self, agent) -> np.ndarray:
        return stack_frames(self.history, len(self.history) - 1, agent.config.replay.stack_frames)


def replay_moves(agent, moves: list[int], seed: int = 0) -> Game:
    """The position after `moves` from the start (checked one by one)."""
    game = Game.start(agent, seed)
    for i, move in enumerate(moves):
        try:
            game.play(move)
        except ExplainError as err:
            raise ExplainError(f"move {i + 1} of {len(moves)} ({move}): {err}") from None
    return game


def play_to_step(agent, seed: int, step: int) -> Game:
    """The position after the agent's own first `step` decisions of the episode from `reset(seed)`."""
    game = Game.start(agent, seed)
    for t in range(step):
        if game.over:
            raise ExplainError(f"the episode from seed {seed} ended after {t} steps, before step {step}")
        game.play(int(search_position(agent, game, top=0)["action"]))
    if game.over:
        raise ExplainError(f"the episode from seed {seed} ended at step {step}: no decision to explain")
    return game


def parse_moves(text: str) -> list[int]:
    """'3 3 4' or '3,3,4' -> [3, 3, 4]."""
    parts = text.replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ExplainError(f"--position takes move numbers separated by spaces or commas, got {text!r}") from None


def search_position(agent, game: Game, *, top: int = 3, depth: int = 3, keep_arrays: bool = False) -> dict:
    """The agent's search at `game`'s position, as it plays (no exploration
    noise, its search settings): the move it picks and what the search saw.
    `keep_arrays` adds the finished trees themselves ("arrays", an `mcts.tree.Tree`),
    to describe later at any size (not JSON)."""
    if game.over:
        raise ExplainError("the game is over: there is no decision to explain")
    config, env = agent.config, game.env
    legal = game.legal()
    obs = np.asarray(game.observation(agent), dtype=np.float32)[None]
    out = plan(agent.model, obs, legal[None], np.asarray([env.to_play()]), config.search, agent.rng,
               agent.spec.num_players, 0.0, explore=False, envs=[env])
    tree = out.tree
    first = describe_node(tree, 0, top=None, depth=1)
    moves = [{"action": e["action"], "visits": e["visits"], "prior": e["prior"], "q": e["q"],
              "policy": float(out.policy_targets[0, e["action"]])} for e in first["children"]]
    moves.sort(key=lambda m: m["action"])
    data = {"env": config.env.id, "to_play": int(env.to_play()), "moves_so_far": list(game.moves),
            "action": int(out.actions[0]), "root_value": float(out.root_values[0]),
            "simulations": config.search.num_simulations, "policy": config.search.policy,
            "search_model": config.search.model, "moves": moves, "pv": principal_variation(tree, 0)}
    if top > 0:
        data["tree"] = describe_node(tree, 0, top=top, depth=depth)
    if keep_arrays:
        data["arrays"] = tree
    return data


# --- the picture ---------------------------------------------------------------------------

def _layout(node: dict, depth: int, next_x: list[float], out: list) -> float:
    """Leaves left to right, parents centred over their children; appends (node, x, depth, parent x, edge)."""
    kids = [e for e in node["children"] if "child" in e]
    xs = [_layout(e["child"], depth + 1, next_x, out) for e in kids]
    if xs:
        x = (xs[0] + xs[-1]) / 2
    else:
        x = next_x[0]
        next_x[0] += 1.0
    for e, cx in zip(kids, xs):
        out.append(("edge", e, x, depth, cx))
    out.append(("node", node, x, depth, None))
    return x


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def draw_tree(data: dict, fmt: str = "svg") -> bytes:
    """The described tree of `search_position` as an SVG (or PNG) picture: a
    node shows its visits and mean value (from its player to move); an edge its
    action, visits N, prior P, Q and reward r."""
    import matplotlib
    from matplotlib.figure import Figure  # not pyplot: no global backend or figure registry is touched

    tree = data.get("tree")
    if tree is None:
        raise ExplainError("no tree in the data: search_position(..., top=0) leaves it out")
    items: list = []
    _layout(tree, 0, [0.0], items)
    width = max(x for kind, _, x, _, _ in items if kind == "node") + 1
    levels = max(d for kind, _, _, d, _ in items if kind == "node") + 1
    fig = Figure(figsize=(max(6.0, 2.3 * width), max(3.0, 2.0 * levels)))
    ax = fig.subplots()
    players = {n["to_play"] for kind, n, *_ in items if kind == "node"}
    colours = ["#cfe3f7", "#f9d9b5"] if len(players) > 1 else ["#d9ead3", "#d9ead3"]
    for kind, item, x, depth, cx in items:
        if kind == "edge":
            ax.plot([x, cx], [-depth, -(depth + 1)], color="#888888", lw=0.5 + 2.5 * math.sqrt(
                item["visits"] / max(1, tree["visits"])), zorder=1)
            label = f"a={item['action']}  N={item['visits']}\nP={item['prior']:.2f} Q={_fmt(item['q'])}"
            if item["reward"]:
                label += f" r={_fmt(item['reward'])}"
            ax.text(0.3 * x + 0.7 * cx, -(depth + 0.7), label, ha="center", va="center", fontsize=7,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85), zorder=2)
        else:
            ax.text(x, -depth, f"N={item['visits']}\nv={_fmt(item['value'])}", ha="center", va="center",
                    fontsize=8, zorder=3, bbox=dict(boxstyle="round,pad=0.35", fc=colours[item["to_play"] % 2],
                                                    ec="#555555"))
    title = (f"{data['env']}: {data['policy']} search, {data['simulations']} simulations, plays {data['action']}, "
             f"root value {_fmt(data['root_value'])}; {count_nodes(tree)} of {tree['visits']} nodes shown")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-(levels - 0.5), 0.5)
    ax.axis("off")
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text: smaller, and searchable
        fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110)
    return buf.getvalue()


def explain_command(agent, out: Path | None, *, moves: list[int] | None = None, seed: int = 0,
                    step: int | None = None, top: int = 3, depth: int = 3) -> dict:
    """`zeroplan explain`: search the position, write the picture to `out` (.svg or .png); returns the data."""
    if out is not None and out.suffix.lower() not in (".svg", ".png"):
        raise ConfigError(f"--out must end in .svg or .png, got {out.name!r}")
    if moves is not None and step is not None:
        raise ExplainError("give either --position MOVES or --step T (with --seed S), not both")
    game = play_to_step(agent, seed, step) if step is not None else replay_moves(agent, moves or [], seed)
    data = search_position(agent, game, top=top, depth=depth)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(draw_tree(data, out.suffix.lower()[1:]))
    return data
