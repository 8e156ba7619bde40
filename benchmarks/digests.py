"""Behaviour digests: short fixed-seed runs through the `zeroplan` command, each
reduced to SHA-256 digests of its final weights and of its metrics.csv without
the wall-clock columns (`time/*`, `search/sims_per_s`). A refactor that is
meant to change nothing must leave every digest as it was.

    python benchmarks/digests.py                  # print the digests (JSON)
    python benchmarks/digests.py --record         # write them to benchmarks/digests.json
    python benchmarks/digests.py --check          # compare with benchmarks/digests.json; exit 1 on a difference

The runs: CartPole and tic-tac-toe MuZero for 3,000 env steps, PETS on
Pendulum-v1 for 3 episodes. Digests depend on the machine's arithmetic (torch
build, CPU kernels), so the recorded file names the torch version and machine
it was made on; compare on the same kind of machine.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = {
    "cartpole": ["cartpole", "--max-env-steps", "3000"],
    "tictactoe": ["tictactoe", "--max-env-steps", "3000", "--set", "run.eval_interval=1500",
                  "--set", "run.eval_episodes=20"],
    "pets_pendulum": ["Pendulum-v1", "--algo", "pets", "--max-episodes", "3"],
}
RECORD = Path(__file__).with_name("digests.json")


def _timing(column: str) -> bool:
    return column.startswith("time/") or column == "search/sims_per_s"


def metrics_digest(path: Path) -> tuple[str, int]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = [c for c in (reader.fieldnames or []) if not _timing(c)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return hashlib.sha256(out.getvalue().encode()).hexdigest(), len(rows)


def weights_digest(path: Path) -> str:
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].tobytes())
    return h.hexdigest()


def run_one(name: str, args: list[str], seed: int, workdir: Path) -> dict:
    run_dir = workdir / name
    cmd = [sys.executable, "-m", "zeroplan.cli", "train", *args, "--seed", str(seed), "--run-dir", str(run_dir),
           "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: `{' '.join(cmd)}` exited {proc.returncode}\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    metrics, rows = metrics_digest(run_dir / "metrics.csv")
    return {"weights": weights_digest(run_dir / "checkpoints" / "last" / "weights.safetensors"),
            "metrics": metrics, "metrics_rows": rows, "env_steps": summary["env_steps"],
            "train_steps": summary.get("train_steps", summary.get("episodes")),
            "best_eval": summary["best_eval"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ", ".join(RUNS))
    ap.add_argument("--seed", type=int, default=0)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--record", action="store_true", help=f"write the digests to {RECORD.name}")
    mode.add_argument("--check", action="store_true", help=f"compare with {RECORD.name}")
    args = ap.parse_args()
    import torch

    names = [n for n in args.runs.split(",") if n]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {list(RUNS)}")
    with tempfile.TemporaryDirectory() as tmp:
        digests = {n: run_one(n, RUNS[n], args.seed, Path(tmp)) for n in names}
    out = {"seed": args.seed, "torch": torch.__version__, "machine": platform.machine(), "runs": digests}
    print(json.dumps(out, indent=1))
    if args.record:
        RECORD.write_text(json.dumps(out, indent=1) + "\n")
    if args.check:
        recorded = json.loads(RECORD.read_text())
        if (recorded["torch"], recorded["machine"]) != (out["torch"], out["machine"]):
            print(f"note: recorded with torch {recorded['torch']} on {recorded['machine']}", file=sys.stderr)
        differ = [n for n in names if recorded["runs"].get(n) != digests[n]]
        print("same digests" if not differ else f"DIFFERENT: {', '.join(differ)}", file=sys.stderr)
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
