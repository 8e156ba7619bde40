"""One short, rerunnable check of the GPU path (issue 24), for a machine with a GPU.

    python benchmarks/gpu_check.py [--device cuda] [--presets cartpole,connect4,minatar,atari]
                                   [--train-minutes 3] [--json]

For each preset's network:
- parity: 20 learner updates from the same weights on the same batches, on
  the CPU and on `--device`; the largest difference of the final weights and
  of the losses (float32: expect about 1e-5, not 0; kernels differ);
- learner updates per second on each device (batch of the preset);
- search simulations per second at batch 64 and 256 (Gumbel, 32 simulations;
  the CPU with the numpy engine where it applies, the GPU with torch).

Then, with --train-minutes M > 0: M minutes of `zeroplan train atari` (Pong,
the Atari preset) on `--device`, with its env steps and updates per second and,
on an NVIDIA GPU, the mean and peak utilisation sampled by nvidia-smi each
second.

It prints one JSON object; about four minutes on a GPU machine with the
defaults (well within 8). With `--device cpu` it compares the CPU with
itself, to check the script end to end without a GPU (use
--train-minutes 0.5 there).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from zeroplan.config import load_config
from zeroplan.envs import make_env
from zeroplan.io.device import resolve_device
from zeroplan.mcts import SearchRoot, search
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.replay import Batch
from zeroplan.nets.build import build_net, net_obs_shape
from zeroplan.nets.search_model import SearchModel


def random_batch(config, spec, rng: np.random.Generator) -> Batch:
    b, k, a = config.replay.batch_size, config.replay.unroll_steps, spec.num_actions
    policies = rng.random((b, k + 1, a)).astype(np.float32)
    shape = net_obs_shape(config, spec.obs_shape)
    later = {}
    if config.train.consistency_weight > 0:  # the consistency loss reads the observations after each step
        later = {"next_obs": rng.random((b, k) + shape).astype(np.float32),
                 "next_obs_mask": np.ones((b, k), np.float32)}
    return Batch(
        **later,
        obs=rng.random((b,) + shape).astype(np.float32),
        actions=rng.integers(0, a, (b, k)), target_values=rng.normal(size=(b, k + 1)).astype(np.float32),
        target_rewards=rng.normal(size=(b, k + 1)).astype(np.float32),
        target_policies=policies / policies.sum(-1, keepdims=True), value_mask=np.ones((b, k + 1), np.float32),
        reward_mask=np.ones((b, k + 1), np.float32), policy_mask=np.ones((b, k + 1), np.float32),
        weights=np.ones(b, np.float32), slots=np.arange(b), episode_ids=np.zeros(b, np.int64),
        starts=np.zeros(b, np.int64))


def updates(net, config, batches, device) -> tuple[torch.nn.Module, list[float], float]:
    net = copy.deepcopy(net).to(device)
    learner = Learner(net, config.train, config.net.support_size, config.replay.unroll_steps)
    losses = []
    start = time.perf_counter()
    for batch in batches:
        metrics, _ = learner.train_step(batch)
        losses.append(metrics["loss"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return net, losses, len(batches) / (time.perf_counter() - start)


def sims_per_second(net, config, spec, batch: int, device) -> float:
    model = SearchModel(copy.deepcopy(net).to(device), inference="auto")
    rng = np.random.default_rng(0)
    obs = rng.random((batch,) + net_obs_shape(config, spec.obs_shape)).astype(np.float32)
    search_config = config.search.model_copy(update={"policy": "gumbel", "num_simulations": 32})
    latent, value, logits = model.initial(obs)
    root = SearchRoot(latent, logits, value, np.ones((batch, spec.num_actions), bool), np.zeros(batch, int))
    search(root, model.recurrent_fn, rng, search_config, num_players=spec.num_players)  # warm-up
    start = time.perf_counter()
    search(root, model.recurrent_fn, rng, search_config, num_players=spec.num_players)
    return batch * 32 / (time.perf_counter() - start)


def check(preset: str, device: torch.device) -> dict:
    config = load_config(preset)
    spec = make_env(config.env).spec
    torch.manual_seed(0)
    net = build_net(config, spec.obs_shape, spec.num_actions)
    rng = np.random.default_rng(0)
    batches = [random_batch(config, spec, rng) for _ in range(20)]
    cpu_net, cpu_losses, cpu_ups = updates(net, config, batches, torch.device("cpu"))
    dev_net, dev_losses, dev_ups = updates(net, config, batches, device)
    weight_diff = max(float((a.detach().cpu() - b.detach().cpu()).abs().max())
                      for a, b in zip(cpu_net.state_dict().values(), dev_net.state_dict().values()))
    return {
        "preset": preset, "device": str(device),
        "parity": {"max_weight_diff": weight_diff, "max_loss_diff": float(np.max(np.abs(np.subtract(cpu_losses,
                                                                                                     dev_losses))))},
        "updates_per_s": {"cpu": cpu_ups, str(device): dev_ups},
        "sims_per_s": {f"B={b}": {"cpu": sims_per_second(net, config, spec, b, torch.device("cpu")),
                                  str(device): sims_per_second(net, config, spec, b, device)} for b in (64, 256)},
    }


def gpu_utilisation(samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            text = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=5).stdout
            samples.append(float(text.split()[0]))
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return


def atari_training(device: torch.device, minutes: float) -> dict:
    """`zeroplan train atari` for `minutes` on `device`: its throughput and the GPU's utilisation."""
    samples: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=gpu_utilisation, args=(samples, stop), daemon=True)
    watcher.start()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "atari"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "zeroplan.cli", "train", "atari", "--device", str(device),
                               "--max-minutes", str(minutes), "--run-dir", str(run), "--no-progress"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    stop.set()
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"minutes": minutes, "env_steps": result["env_steps"], "train_steps": result["train_steps"],
            "env_steps_per_s": result["env_steps"] / seconds, "updates_per_s": result["train_steps"] / seconds,
            "gpu_util_mean": float(np.mean(samples)) if samples else None,
            "gpu_util_max": float(np.max(samples)) if samples else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--presets", default="cartpole,connect4,minatar,atari")
    ap.add_argument("--train-minutes", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device, _ = resolve_device(args.device)
    info = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    out = {"machine": info, "presets": [check(p, device) for p in args.presets.split(",")]}
    if args.train_minutes > 0:
        out["atari_training"] = atari_training(device, args.train_minutes)
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
