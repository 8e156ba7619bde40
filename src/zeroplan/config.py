"""Validated configuration models.

One tree of pydantic models: a wrong key, type or range is rejected where the
config is built, with a message that names the key. Models are frozen and
picklable so that any component can carry its own config into a Ray actor.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SearchConfig(_Strict):
    """Tree search over the learned model (see docs/search.md)."""

    policy: Literal["puct", "gumbel"] = "puct"
    num_simulations: int = Field(50, ge=1, le=100_000)
    discount: float = Field(0.997, gt=0.0, le=1.0)
    # MuZero pUCT
    pb_c_init: float = Field(1.25, ge=0.0)
    pb_c_base: float = Field(19652.0, gt=0.0)
    dirichlet_alpha: float = Field(0.25, gt=0.0)
    dirichlet_fraction: float = Field(0.25, ge=0.0, le=1.0)
    # Gumbel MuZero
    max_num_considered_actions: int = Field(16, ge=1)
    gumbel_scale: float = Field(1.0, ge=0.0)
    c_visit: float = Field(50.0, ge=0.0)
    c_scale: float = Field(0.1, gt=0.0)
