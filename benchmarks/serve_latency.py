"""How fast the web page answers a move: `zeroplan serve` in its own process,
timed over real HTTP, against the same search run in this process.

    python benchmarks/serve_latency.py [--agent pretrained:tictactoe] [--sims 32] [--games 20] [--json]

Each game: POST /api/new, then random legal human moves until the end; every
POST /api/move includes the agent's reply (one search). Printed: the median,
90th percentile and max milliseconds per move over HTTP, and, as the
reference in the same run, the in-process time of `search_position` on the
same positions (the ratio is what the server and HTTP add). Target (issue
27): a move in < 100 ms at 32 simulations for tic-tac-toe.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

import zeroplan
from zeroplan.explain import replay_moves, search_position


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default="pretrained:tictactoe")
    ap.add_argument("--sims", type=int, default=32)
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "zeroplan.cli", "serve", args.agent, "--port", str(port),
                               "--set", f"search.num_simulations={args.sims}"], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/info", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        rng = np.random.default_rng(0)
        http_ms, positions = [], []
        for _ in range(args.games):
            state = _post(base + "/api/new", {"human": 0})
            while not state["over"]:
                move = int(rng.choice(state["legal"]))
                start = time.perf_counter()
                after = _post(base + "/api/move", {"game": state["game"], "action": move})
                if len(after["moves"]) == len(state["moves"]) + 2:  # the agent answered: a search was timed
                    http_ms.append(1000 * (time.perf_counter() - start))
                    positions.append(state["moves"] + [move])
                state = after
    finally:
        server.terminate()
        server.wait(timeout=10)
    agent = zeroplan.load(args.agent, search={"num_simulations": args.sims})
    local_ms = []
    for moves in positions:
        game = replay_moves(agent, moves)
        start = time.perf_counter()
        search_position(agent, game, top=0)
        local_ms.append(1000 * (time.perf_counter() - start))
    out = {"agent": args.agent, "simulations": args.sims, "moves_timed": len(http_ms),
           "http_ms": {"median": float(np.median(http_ms)), "p90": float(np.percentile(http_ms, 90)),
                       "max": float(np.max(http_ms))},
           "in_process_ms": {"median": float(np.median(local_ms)), "p90": float(np.percentile(local_ms, 90))},
           "http_over_in_process": float(np.median(http_ms) / np.median(local_ms))}
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
