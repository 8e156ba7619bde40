"""zeroplan: model-based reinforcement learning that plans with a learned model."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
