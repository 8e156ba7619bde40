"""PETS configuration: one validated tree (env / model / planner / train / run).

Built from the same strict base as MuZero's config, so a wrong key, type or
range stops the program with a message naming the key; presets live in
presets/pets/ and are found with `load_config(env, model=PetsConfig, family="pets")`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zeroplan.config import EnvConfig, _Strict


class ModelConfig(_Strict):
    """The probabilistic ensemble and how it is fitted after every episode."""

    ensemble_size: int = Field(5, ge=1, le=64)
    hidden: int = Field(200, ge=1)
    layers: int = Field(3, ge=1, le=8, description="hidden layers")
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(5e-5, ge=0.0, description="L2 on the weights (not biases), Adam-style")
    epochs: int = Field(50, ge=1, description="most epochs per fit; early stopping usually ends sooner")
    batch_size: int = Field(64, ge=1)
    holdout: float = Field(0.1, ge=0.0, lt=1.0, description="share of transitions held out for validation")
    patience: int = Field(5, ge=1, description="epochs without a validation gain before the fit stops")
    logvar_bound_weight: float = Field(0.01, ge=0.0, description="pull on the learned log-variance bounds")
    reward: Literal["learned", "known"] = Field(
        "learned", description="'known' uses the env's reward function from mbrl/rewards.py instead of predicting it")
    termination: Literal["none", "known"] = Field(
        "none", description="'known' ends imagined trajectories by the env's termination rule from mbrl/rewards.py "
        "(no reward after the end); 'none' lets them run the whole horizon")


class PlannerConfig(_Strict):
    """MPC over the learned model, re-planned every step."""

    name: Literal["cem", "rs"] = "cem"
    horizon: int = Field(15, ge=1)
    population: int = Field(200, ge=1, description="candidate action sequences per iteration")
    elites: int = Field(20, ge=1)
    iterations: int = Field(5, ge=1, description="CEM refits (random shooting samples population x iterations once)")
    alpha: float = Field(0.1, ge=0.0, lt=1.0, description="share of the old mean/variance kept at each CEM refit")
    init_std: float = Field(0.5, gt=0.0, description="CEM's initial std in units of the action half-range")
    propagation: Literal["ts1", "tsinf"] = "ts1"
    particles: int = Field(20, ge=1, description="trajectory samples per candidate; a multiple of the ensemble size")
    warm_start: bool = Field(True, description="start from the previous plan shifted by one step")
    state_cost: list[float] | None = Field(
        None, description="planning-only shaping: one weight per observation dimension, and every imagined step's "
        "reward is lowered by sum(w * next_obs**2) (e.g. keep a cart near the middle of its rail); evaluation "
        "always reports the env's own return")

    @model_validator(mode="after")
    def _cost_weights(self) -> PlannerConfig:
        if self.state_cost is not None and any(not (w >= 0.0 and w < float("inf")) for w in self.state_cost):
            raise ValueError(f"planner.state_cost weights must be finite and >= 0, got {self.state_cost}")
        return self


class PetsTrainConfig(_Strict):
    random_episodes: int = Field(1, ge=1, description="episodes of uniform random actions before the first fit")


class PetsRunConfig(_Strict):
    seed: int = Field(0, ge=0)
    max_episodes: int = Field(15, ge=1, description="episodes of data in all, random ones included")
    max_minutes: float | None = Field(None, gt=0)
    eval_interval: int = Field(5, ge=1, description="episodes between evaluations (the last episode is always evaluated)")
    eval_episodes: int = Field(5, ge=1)
    stop_at_return: float | None = Field(None, description="stop once the evaluation mean reaches this")
    torch_threads: int = Field(1, ge=1)


class PetsConfig(_Strict):
    env: EnvConfig = EnvConfig(id="Pendulum-v1")
    model: ModelConfig = ModelConfig()
    planner: PlannerConfig = PlannerConfig()
    train: PetsTrainConfig = PetsTrainConfig()
    run: PetsRunConfig = PetsRunConfig()

    @model_validator(mode="after")
    def _consistent(self) -> PetsConfig:
        p = self.planner
        if p.elites > p.population:
            raise ValueError(f"planner.elites ({p.elites}) must not exceed planner.population ({p.population})")
        if p.particles % self.model.ensemble_size:
            raise ValueError(f"planner.particles ({p.particles}) must be a multiple of model.ensemble_size "
                             f"({self.model.ensemble_size}) so that every member carries the same number of particles")
        return self
