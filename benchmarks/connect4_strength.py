"""A connect-four agent's strength from varied positions, for a run that exists.

    python benchmarks/connect4_strength.py RUN_DIR [--set search.KEY=VALUE ...] [--json]

One game per side from each of the 49 two-move openings against alpha-beta at
depths 2 and 4 (wins per side; evaluation seed 777, as benchmarks/env_presets.py),
and the tactics probe of benchmarks/connect4_tactics.py (200 positions each,
seed 0): how often the search takes a win in one and makes a forced block.
`--set search.model=rules` searches a MuZero agent's network over the real
rules instead of its learned model (the probe of docs/alphazero.md).
"""

from __future__ import annotations

import argparse
import json
import time

from connect4_tactics import load_connect4, tactics

from zeroplan.envs.experts import make_opponent
from zeroplan.eval.evaluate import evaluate_vs, openings


def strength(agent, seed: int = 777) -> dict:
    starts = openings(agent.env_factory, 2)
    out: dict = {"openings": len(starts)}
    for opp in ("alphabeta:2", "alphabeta:4"):
        result = evaluate_vs(agent.model, agent.config, agent.env_factory, make_opponent(opp, "connect4"), 0, seed,
                             starts)
        out[opp] = {side: counts for side, counts in result.items()}
    out["tactics"] = tactics(agent, 200, 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a run directory (its best checkpoint) or a checkpoint directory")
    ap.add_argument("--set", action="append", default=[], metavar="search.KEY=VALUE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    agent, search = load_connect4(args.run, args.set)
    start = time.perf_counter()
    out = {"run": args.run, "search": search, **strength(agent), "seconds": round(time.perf_counter() - start, 1)}
    if not args.json:
        for opp in ("alphabeta:2", "alphabeta:4"):
            wins = {side: c["wins"] for side, c in out[opp].items()}
            print(f"vs {opp} from the {out['openings']} openings: wins first {wins['first']}, second {wins['second']}")
        for kind, figures in out["tactics"].items():
            print(f"{kind}: search {figures['search']:.3f}, prior {figures['prior']:.3f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
