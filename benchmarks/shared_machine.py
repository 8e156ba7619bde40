"""A preset's training speed on an idle machine and beside a busy one-core process.

    python benchmarks/shared_machine.py [--preset connect4] [--minutes 3] [--threads auto,2] [--json]

For each `run.torch_threads` setting: env steps per minute of a training run
on the machine as it is, then of the same run with a competing process that
keeps one core busy (a pure-Python loop, started before the run so that
`auto` sees it). The figure is the ratio busy / idle: on a 2-core machine a
run that needs both cores could at best keep about half its speed beside a
one-core job. The issue's target: `auto` keeps at least 40%. A fixed count of
2 (the connect-four preset's old setting) is run too, as the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


def steps_per_minute(preset: str, threads: str, minutes: float, seed: int) -> dict:
    from zeroplan.muzero.agent import MuZero

    setting = threads if threads == "auto" else int(threads)
    with tempfile.TemporaryDirectory() as tmp:
        agent = MuZero(preset, seed=seed, run_dir=tmp, tensorboard=False,
                       overrides={"run": {"torch_threads": setting}})
        chosen = agent.runner.torch_threads
        start = time.perf_counter()
        result = agent.learn(max_minutes=minutes)
        seconds = time.perf_counter() - start
        agent.close()
    return {"threads_setting": threads, "threads": chosen, "env_steps": result.env_steps,
            "train_steps": result.train_steps, "seconds": round(seconds, 1),
            "env_steps_per_min": round(result.env_steps / seconds * 60)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="connect4")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--threads", default="auto,2", help="comma-separated run.torch_threads settings")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for threads in args.threads.split(","):
        idle = steps_per_minute(args.preset, threads, args.minutes, args.seed)
        hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=args.minutes * 60 + 120)])
        try:
            time.sleep(1.0)  # running before the run looks at the machine
            busy = steps_per_minute(args.preset, threads, args.minutes, args.seed)
        finally:
            hog.kill()
            hog.wait()
        row = {"threads_setting": threads, "idle": idle, "busy": busy,
               "kept": round(busy["env_steps_per_min"] / idle["env_steps_per_min"], 3)}
        rows.append(row)
        if not args.json:
            print(f"torch_threads {threads}: idle {idle['env_steps_per_min']:,} env steps/min "
                  f"({idle['threads']} threads), beside a busy core {busy['env_steps_per_min']:,} "
                  f"({busy['threads']} threads): kept {row['kept']:.0%}", flush=True)
    print(json.dumps({"preset": args.preset, "minutes": args.minutes,
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores", "results": rows}))


if __name__ == "__main__":
    main()
