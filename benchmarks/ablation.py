"""Ablation of EfficientZero's parts: env steps (and seconds) until the
periodic evaluation first reaches the target, with every part as the preset
has it, and with each part switched off in turn, side by side in one run.

    python benchmarks/ablation.py cartpole --seeds 3 --json
    python benchmarks/ablation.py lunarlander --seeds 3 --max-minutes 30 --json

Parts: the temporal consistency loss (train.consistency_weight), the value
prefix (net.value_prefix), the age-shrunk bootstrap horizon
(replay.td_shrink_every) and the search-based value target for old samples
(train.value_target mixed, with reanalyse). A part the preset has
off is switched on instead (with the setting given by --on), so each row
answers "what does this part change". Seeds run one after another on the
machine's own cores; report medians, not the best seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_to_solve import run_muzero  # noqa: E402  (a sibling script)

TARGETS = {"cartpole": 475.0, "lunarlander": 200.0}
# Each part: the setting that says whether it is on, its "off" value, and the settings that switch it on.
PARTS = {"consistency": ("train.consistency_weight", 0.0, ["train.consistency_weight=2.0"]),
         "value_prefix": ("net.value_prefix", False, ["net.value_prefix=true"]),
         "td_shrink": ("replay.td_shrink_every", 0, ["replay.td_shrink_every=10000"]),
         "search_value": ("train.value_target", "td", ["train.value_target=mixed", "train.reanalyse_fraction=0.25"])}


def variants(preset: str, on: dict[str, str]) -> dict[str, list[str]]:
    """name -> --set overrides: the preset as it is, then each part flipped."""
    from zeroplan.config import load_config

    config = load_config(preset).model_dump()
    out = {"preset": []}
    for name, (key, off, default_on) in PARTS.items():
        section, field = key.split(".")
        if config[section][field] != off:
            out[f"without {name}"] = [f"{key}={str(off).lower() if isinstance(off, bool) else off}"]
        else:
            out[f"with {name}"] = on[name].split(";") if name in on else default_on
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", choices=sorted(TARGETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=10.0, help="give up on a seed after this long")
    parser.add_argument("--on", action="append", default=[], help="PART=KEY=VALUE[;KEY=VALUE...]: the settings "
                        "that switch a part on, e.g. 'search_value=train.value_target=search;train.reanalyse_fraction=0.5'")
    parser.add_argument("--set", dest="dotted", action="append", default=[], help="applied to every variant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    on = dict(item.split("=", 1) for item in args.on)
    target = TARGETS[args.preset]
    out: dict = {"preset": args.preset, "target": target, "rows": {}}
    for name, sets in variants(args.preset, on).items():
        runs = [run_muzero(args.preset, seed, target, args.max_minutes, args.dotted + sets)
                for seed in range(args.seed_start, args.seed_start + args.seeds)]
        solved = [r for r in runs if r["solved"]]
        row = {"sets": sets, "solved": f"{len(solved)}/{len(runs)}",
               "median_env_steps": statistics.median(r["env_steps"] for r in solved) if solved else None,
               "median_seconds": statistics.median(r["seconds"] for r in solved) if solved else None,
               "env_steps": [r["env_steps"] for r in runs], "seconds": [r["seconds"] for r in runs]}
        out["rows"][name] = row
        if not args.json:
            print(name, json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
