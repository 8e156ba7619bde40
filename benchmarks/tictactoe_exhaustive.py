"""Every position a tic-tac-toe agent can meet against perfect play, checked.

    python benchmarks/tictactoe_exhaustive.py RUN_DIR [--json]

The expert of `zeroplan eval --opponent expert` plays uniformly among its
optimal moves, so 100 games sample some of its lines. This walks all of them:
from the empty board, the expert's every optimal move and the agent's one
deterministic reply (the search without exploration noise, as in evaluation),
for the agent as first and as second player. A *mistake* is a reply that
lowers the game-theoretic value of the agent's position (a draw thrown into a
loss, a win into a draw). No mistakes means no game against perfect play can
be lost, whatever the expert's tie-breaks.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import zeroplan
from zeroplan.envs.experts import perfect_play_mistakes


def walk(agent, agent_player: int) -> tuple[int, list[dict]]:
    return perfect_play_mistakes(
        lambda env: agent.predict(env._observation(), env.legal_mask(), to_play=env.to_play(), env=env), agent_player)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--checkpoint", default=None, help="a name under RUN_DIR/checkpoints (default: best)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    path = f"{args.run_dir}/checkpoints/{args.checkpoint}" if args.checkpoint else args.run_dir
    agent = zeroplan.load(path)
    agent.rng = np.random.default_rng(0)
    out = {}
    for side, player in (("first", 0), ("second", 1)):
        decisions, mistakes = walk(agent, player)
        out[side] = {"positions": decisions, "mistakes": len(mistakes), "examples": mistakes[:5]}
        if not args.json:
            print(f"as {side} player: {decisions} positions, {len(mistakes)} mistakes")
            for m in mistakes[:5]:
                print(f"  board {m['board']} move {m['move']} (optimal {m['optimal']}): value {m['value']} -> {m['after']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
