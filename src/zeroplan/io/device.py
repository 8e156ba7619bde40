"""Where the learner runs: `run.device` (auto | cpu | cuda | cuda:N).

The network that learns lives on this device, and so does every batch it
learns from; search inference follows the network (the numpy engine needs its
weights on the CPU, so with the learner on a GPU the search runs the torch
network there, batched). Checkpoints are written from CPU copies and read
onto whatever device the run that reads them uses, so a run trained on a GPU
resumes or evaluates on a CPU and back. A GPU that was asked for and is not
there stops the run at its start with a message, not at the first update.
"""

from __future__ import annotations

import re

import torch

from zeroplan.config import ConfigError

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(spec: str) -> tuple[torch.device, str | None]:
    """The torch device for `run.device`, and a note when 'auto' chose a GPU."""
    if spec == "cpu":
        return torch.device("cpu"), None
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0), f"run.device auto: cuda:0 ({torch.cuda.get_device_name(0)})"
        return torch.device("cpu"), None
    match = _CUDA.match(spec)
    if match is None:
        raise ConfigError(f"run.device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if not torch.cuda.is_available():
        raise ConfigError(f"run.device {spec}: torch sees no CUDA GPU here (torch {torch.__version__}, "
                          f"built for CUDA {torch.version.cuda or 'none'}); use run.device=cpu or auto")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"run.device {spec}: there {'is' if count == 1 else 'are'} only {count} GPU"
                          f"{'' if count == 1 else 's'} (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index), None
