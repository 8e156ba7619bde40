"""Warm start: begin a new training run from another run's network weights.

Only the weights travel. The optimizer, replay buffer, counters and random
streams start fresh, so the new run is a new experiment (e.g. fine-tuning a
CartPole agent on a longer pole) rather than a continuation, which is what
`--resume` is for.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zeroplan.io.checkpoint import Checkpoint, find_checkpoint


def load_init_weights(net: torch.nn.Module, source: str | Path) -> Path:
    """Copy a checkpoint's weights into `net` (freshly built from the new config).

    Every tensor must be present with the same shape; otherwise nothing is
    loaded and one CheckpointError lists each mismatch, so a different
    network size or observation shape is caught before training starts.
    Returns the checkpoint directory that was used.
    """
    ckpt = Checkpoint(find_checkpoint(source))
    tensors = ckpt.tensors()
    expected = net.state_dict()
    problems = [f"{k}: checkpoint {tuple(tensors[k].shape)}, network {tuple(v.shape)}"
                for k, v in expected.items() if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"not in the network: {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""))
    if problems:
        source_env = ckpt.meta.get("config", {}).get("env", {}).get("id", "?")
        raise ckpt.error("weights.safetensors", f"cannot initialise the network from this checkpoint (trained on "
                         f"{source_env}); the net and env settings must give the same shapes:\n  "
                         + "\n  ".join(problems))
    with torch.no_grad():
        net.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return ckpt.path


def warm_start(runner, source: str | Path) -> Path:
    """Load `source`'s weights into a new runner's network before its first update,
    and into the learner's target network too (copied from the random
    initialisation when the learner was built, it would otherwise bootstrap
    values from noise until its first refresh)."""
    if runner.result.train_steps or runner.result.env_steps:
        raise ValueError("warm start is for a new run, before any training")
    path = load_init_weights(runner.net, source)
    target = getattr(runner.learner, "target_net", None)
    if target is not None:
        target.load_state_dict(runner.net.state_dict())
    return path
