"""How a connect-four agent does against an opponent from many openings, not one line.

    python benchmarks/connect4_openings.py RUN_DIR [--opponent alphabeta:2] [--plies 2]
        [--checkpoint best] [--seed 0] [--json]

`zeroplan eval` starts every game from the empty board. Depth-2 alpha-beta
only breaks ties at random and the agent plays without noise, so those games
mostly repeat one line per side: 100 / 0 says whether that line wins, not how
strong the agent is. Here every opening of `--plies` moves (7 ** plies
positions; 49 for the default 2) is played once with the agent as the first
player and once as the second, the opponent moving after the opening as in
any game. It prints wins / draws / losses per side and the win rates.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from zeroplan.envs.experts import make_opponent
from zeroplan.envs.games.connect4 import COLS, Connect4
from zeroplan.muzero.agent import load
from zeroplan.muzero.selfplay import plan
from zeroplan.nets.muzero_net import SearchModel


def openings(plies: int) -> list[tuple[int, ...]]:
    """Every sequence of `plies` columns that leaves the game undecided (with
    two or fewer plies nothing can end it, so there are 7 ** plies)."""
    out = []
    for moves in itertools.product(range(COLS), repeat=plies):
        game = Connect4()
        game.reset()
        done = False
        for c in moves:
            if done or not game.legal_mask()[c]:
                done = True
                break
            _, _, done, _ = game.step(c)
        if not done:
            out.append(moves)
    return out


def play(model, config, opponent, starts: list[tuple[int, ...]], agent_player: int,
         rng: np.random.Generator) -> dict[str, int]:
    """All games at once: each from its opening, the agent playing `agent_player`."""
    games = []
    obs = []
    for moves in starts:
        game = Connect4()
        o = game.reset()
        for c in moves:
            o, _, _, _ = game.step(c)
        games.append(game)
        obs.append(o)
    counts = {"wins": 0, "draws": 0, "losses": 0}
    live = list(range(len(games)))
    while live:
        mine = [i for i in live if games[i].to_play() == agent_player]
        actions = {}
        if mine:
            out = plan(model, np.stack([obs[i] for i in mine]), np.stack([games[i].legal_mask() for i in mine]),
                       np.array([agent_player] * len(mine)), config, rng, 2, 0.0, False)
            actions.update({i: int(a) for i, a in zip(mine, out.actions)})
        for i in live:
            if i not in actions:
                actions[i] = opponent.act(games[i], rng)
        still = []
        for i in live:
            mover = games[i].to_play()
            obs[i], reward, done, _ = games[i].step(actions[i])
            if not done:
                still.append(i)
            elif reward > 0:
                counts["wins" if mover == agent_player else "losses"] += 1
            else:
                counts["draws"] += 1
        live = still
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a connect4 run directory")
    ap.add_argument("--opponent", default="alphabeta:2")
    ap.add_argument("--plies", type=int, default=2, help="opening length; 7 ** plies openings")
    ap.add_argument("--checkpoint", default="best", help="checkpoint name under RUN/checkpoints")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 0 <= args.plies <= 4:
        raise SystemExit("--plies must be 0..4")
    agent = load(Path(args.run) / "checkpoints" / args.checkpoint)
    if agent.config.env.id != "connect4":
        raise SystemExit(f"{args.run} is a {agent.config.env.id} agent, not connect4")
    model = SearchModel(agent.net)
    opponent = make_opponent(args.opponent, "connect4")
    rng = np.random.default_rng(args.seed)
    starts = openings(args.plies)
    out = {"run": args.run, "checkpoint": args.checkpoint, "opponent": args.opponent, "plies": args.plies,
           "openings": len(starts), "seed": args.seed}
    for side, player in (("first", 0), ("second", 1)):
        counts = play(model, agent.config, opponent, starts, player, rng)
        out[side] = dict(counts, win_rate=counts["wins"] / len(starts))
        if not args.json:
            print(f"as {side} player: {counts['wins']} wins, {counts['draws']} draws, {counts['losses']} losses "
                  f"of {len(starts)}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
