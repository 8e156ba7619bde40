"""zeroplan: model-based reinforcement learning that plans with a learned model.

Public API: `MuZero`, `PETS`, `load`, `__version__`. Loaded lazily, so that
`import zeroplan.mcts` (the torch-free search) does not import torch.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["MuZero", "PETS", "load", "__version__"]


def __getattr__(name: str):
    if name in ("MuZero", "load"):
        from zeroplan.muzero import agent

        return getattr(agent, name)
    if name == "PETS":
        from zeroplan.mbrl.pets import PETS

        return PETS
    raise AttributeError(f"module 'zeroplan' has no attribute {name!r}")
