"""zeroplan: model-based reinforcement learning that plans with a learned model.

Public API: `MuZero`, `AlphaZero`, `PETS`, `load`, `pretrained`, `__version__`. Loaded lazily, so that
`import zeroplan.mcts` (the torch-free search) does not import torch.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["MuZero", "AlphaZero", "PETS", "load", "pretrained", "__version__"]


def __getattr__(name: str):
    if name == "MuZero":
        from zeroplan.muzero.agent import MuZero

        return MuZero
    if name == "AlphaZero":
        from zeroplan.muzero.agent import AlphaZero

        return AlphaZero
    if name == "load":  # any algorithm's saved agent
        from zeroplan.agents import load

        return load
    if name == "pretrained":  # an agent shipped with the package: zeroplan.pretrained("connect4")
        from zeroplan.agents import pretrained

        return pretrained
    if name == "PETS":
        from zeroplan.mbrl.pets import PETS

        return PETS
    raise AttributeError(f"module 'zeroplan' has no attribute {name!r}")
