"""Does a connect-four agent take a win in one and block the opponent's win in one?

    python benchmarks/connect4_tactics.py RUN_DIR [--positions 200] [--seed 0] [--set search.KEY=VALUE] [--json]

Positions come from random play (4 to 29 random moves). "take a win": the
mover has a move that wins at once. "block": the mover has none, and the
opponent has exactly one column that would win at once, so the mover must
play it. For each set: how often the agent's search (evaluation mode, no
noise) and its prior's argmax pick the right move, and, for a learned model,
its predicted reward for the right move against the other legal ones (only
meaningful for "take a win": a block earns no reward). These are what
depth-2 alpha-beta never gets wrong. `tactics()` is what
benchmarks/env_presets.py reports for every connect-four run.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from zeroplan.config import ConfigError, search_overrides
from zeroplan.envs import alphabeta
from zeroplan.envs.games.connect4 import COLS, Connect4
from zeroplan.muzero.agent import load
from zeroplan.mcts.model import plan


def positions(count: int, rng: np.random.Generator) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {"take a win": [], "block": []}
    while min(len(v) for v in found.values()) < count:
        game = Connect4()
        obs = game.reset()
        for _ in range(int(rng.integers(4, 30))):
            obs, _, done, _ = game.step(int(rng.choice(np.flatnonzero(game.legal_mask()))))
            if done:
                break
        if game.is_over():
            continue
        me = game.to_play()
        mine_bits, theirs_bits, heights = alphabeta.position(game.board(), me)
        mine = np.flatnonzero(alphabeta.winning_columns(mine_bits, heights)).tolist()
        theirs = np.flatnonzero(alphabeta.winning_columns(theirs_bits, heights)).tolist()
        entry = (obs.copy(), game.legal_mask().copy(), me, game.clone())
        if mine:
            kind, right = "take a win", mine
        elif len(theirs) == 1:
            kind, right = "block", theirs
        else:
            continue
        if len(found[kind]) < count:
            found[kind].append(entry + (right,))  # (obs, legal, mover, game, right moves)
    return found


def reward_figures(rewards_fn, probe: list[tuple]) -> dict:
    """rewards_fn(i) -> predicted reward of each of the 7 moves in position i of
    `probe`: how often the highest one among the legal moves is a right one, and
    the mean prediction for the right moves and for the others."""
    hits, right_r, other_r = [], [], []
    for i, (_, legal, _, _, right) in enumerate(probe):
        r = rewards_fn(i)
        hits.append(int(np.argmax(np.where(legal, r, -np.inf))) in right)
        right_r.append(r[right].mean())
        others = [c for c in np.flatnonzero(legal) if c not in right]
        if others:
            other_r.append(r[others].mean())
    return {"picks_a_win": float(np.mean(hits)), "reward_winning": float(np.mean(right_r)),
            "reward_others": float(np.mean(other_r))}


def tactics(agent, count: int = 200, seed: int = 0) -> dict:
    """The agent's search (as it evaluates: no noise) and its prior on `count`
    win-in-one and `count` forced-block positions; for a learned model also the
    predicted reward of the right moves against the others."""
    rng = np.random.default_rng(seed)
    model = agent.model
    learned = not getattr(model, "steps_envs", False)
    out = {}
    for kind, pos in positions(count, rng).items():
        obs = np.stack([p[0] for p in pos])
        legal = np.stack([p[1] for p in pos])
        to_play = np.array([p[2] for p in pos])
        right = [p[4] for p in pos]
        searched = plan(model, obs, legal, to_play, agent.config.search, rng, 2, 0.0, explore=False,
                        envs=[p[3] for p in pos]).actions
        _, _, logits = (model if learned else model.evaluator).initial(obs)
        prior = np.where(legal, logits, -np.inf).argmax(axis=1)
        out[kind] = {"search": float(np.mean([a in r for a, r in zip(searched, right)])),
                     "prior": float(np.mean([a in r for a, r in zip(prior, right)])),
                     "chance": float(np.mean([len(r) / legal[i].sum() for i, r in enumerate(right)]))}
        if learned:
            latent, _, _ = model.initial(obs)
            rewards = reward_figures(
                lambda i: model.recurrent_fn(np.repeat(latent[i:i + 1], COLS, axis=0), np.arange(COLS))[1], pos)
            out[kind].update(reward_right=rewards["reward_winning"], reward_others=rewards["reward_others"])
    return out


def load_connect4(run: str, sets: list[str]):
    """A saved connect-four agent with `--set search.KEY=VALUE` applied; exits with the message on bad input."""
    try:
        search = search_overrides(sets)
    except ConfigError as err:
        raise SystemExit(str(err)) from None
    agent = load(run, search=search or None)
    if agent.config.env.id != "connect4":
        raise SystemExit(f"{run} is a {agent.config.env.id} agent, not connect4")
    return agent, search


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a run directory (its best checkpoint) or a checkpoint directory")
    ap.add_argument("--positions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="search.KEY=VALUE",
                    help="search with other settings than the agent was trained with")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    agent, search = load_connect4(args.run, args.set)
    out = {"run": args.run, "seed": args.seed, "positions": args.positions, "search": search,
           **tactics(agent, args.positions, args.seed)}
    if not args.json:
        for kind in ("take a win", "block"):
            print(f"{kind}: {json.dumps(out[kind])}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
