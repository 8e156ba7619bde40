"""Validated configuration models.

One tree of pydantic models (env / net / search / replay / train / run): a
wrong key, type or range is rejected where the config is built, with a message
that names the key and what is allowed. Models are frozen and picklable so that
any component can carry its own config into a Ray actor.

Presets are YAML files in zeroplan/presets/; `load_config` merges a preset, a
dict of overrides and dotted "key=value" strings, in that order.
"""

from __future__ import annotations

import difflib
import math
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zeroplan.overrides import ConfigError, merge, parse_overrides, search_overrides, set_dotted

__all__ = ["ConfigError", "merge", "parse_overrides", "search_overrides", "set_dotted"]  # (from overrides)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SearchConfig(_Strict):
    """Tree search over the learned model (see docs/search.md)."""

    policy: Literal["puct", "gumbel"] = "puct"
    model: Literal["learned", "rules"] = Field(
        "learned", description="what the search steps: 'learned' = the learned dynamics (MuZero); 'rules' = copies of "
        "the real environment, the network only evaluating positions (AlphaZero; envs with clone(): the native "
        "games, Gymnasium envs that can be deep-copied, your own)")
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
    # Both: the min-max rescaling of Q divides by at least this span. 0 is the
    # papers' plain min-max; a floor keeps tiny Q differences (sparse rewards, an
    # untrained net) from being blown up into whole-range preferences, which
    # collapses Gumbel policy targets onto one action (EfficientZero uses 0.01).
    min_value_span: float = Field(0.0, ge=0.0)
    root_value: Literal["mean", "max_q", "improved"] = Field(
        "mean", description="the value a search reports for its root, stored with the data for n-step bootstrapping "
        "and priorities: 'mean' = the average return of the root's visits (MuZero); 'max_q' = the best Q among the "
        "root's visited legal actions; 'improved' (gumbel only) = the expected completed Q under the improved policy, "
        "a softened max_q. The last two make a short td_steps back up what the search saw one move ahead")
    sampled_actions: int = Field(
        0, ge=0, le=4096, description="Sampled MuZero: K actions drawn from the policy at every node, the tree's "
        "children being those samples (needed for continuous actions; for discrete ones, a search of K < A children "
        "in large action spaces); 0 = every action is a child")
    sample_mode: bool = Field(
        True, description="Sampled MuZero: a search without exploration (evaluation, predict) puts the policy's "
        "mode (a Gaussian's mean, the likeliest discrete action) among its samples; reanalyse never does")
    sample_temperature: float = Field(
        1.0, gt=0.0, le=100.0, description="Sampled MuZero: samples are drawn from the policy at this temperature "
        "(a Gaussian's variance scaled by it; a categorical's logits divided by it), the prior corrected for it")

    @model_validator(mode="after")
    def _improved_needs_gumbel(self) -> SearchConfig:
        if self.root_value == "improved" and self.policy != "gumbel":
            raise ValueError("search.root_value 'improved' is the value of Gumbel's improved policy; "
                             "with policy 'puct' use 'mean' or 'max_q'")
        return self


class EnvConfig(_Strict):
    id: str = "CartPole-v1"
    max_episode_steps: int | None = Field(None, ge=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # Image observations only (uint8 Box in 0..255; see envs/images.py). The size
    # is checked against the env's images when it is made: it may only shrink them.
    image_size: tuple[int, int] | None = Field(
        None, description="(height, width) to downsample image observations to by area averaging; null keeps them")
    grayscale: bool = Field(False, description="image observations as one luminance channel")
    action_repeat: int = Field(
        1, ge=1, description="Gymnasium envs: each chosen action is played this many times (rewards summed, "
                             "stopping at the episode's end); env steps count decisions")
    episodic_life: bool = Field(
        False, description="Atari (ALE/ ids): in self-play a lost life ends the episode and the game goes on in the "
        "next one; evaluation always plays whole games")
    action_planes: bool = Field(
        False, description="Atari (ALE/ ids): each frame comes with a plane holding the action that led to it (the "
        "MuZero paper's input), so replay.stack_frames stacks the previous actions too")

    @model_validator(mode="after")
    def _life_is_atari(self) -> EnvConfig:
        for name in ("episodic_life", "action_planes"):
            if getattr(self, name) and not self.id.startswith("ALE/"):
                raise ValueError(f"env.{name} is for Atari games (ALE/ ids), not {self.id}")
        return self

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) < 1:
            raise ValueError(f"env.image_size must be (height, width) with both >= 1, got {tuple(size)}")
        return size


class NetConfig(_Strict):
    kind: Literal["mlp", "resnet"] = "mlp"
    support_size: int = Field(10, ge=1, le=1000)
    latent_dim: int = Field(64, ge=1, le=65_536)
    hidden: tuple[int, ...] = (128, 128)
    channels: int = Field(32, ge=1, le=4096)
    blocks: int = Field(2, ge=0, le=256)
    action_encoding: Literal["auto", "cell", "column", "planes"] = Field(
        "auto", description="resnet only: how the action enters the dynamics; 'cell' = a 1 on the cell played "
        "(actions are the board's cells), 'column' = a column of 1s (actions are its columns, e.g. connect four), "
        "'planes' = one constant plane per action; 'auto' = cell, else column, else planes, by the action count")
    head_hidden: int = Field(
        0, ge=0, le=65_536, description="resnet only: units of a hidden layer in the value and reward heads (AlphaZero's value "
        "head has 256); 0 = the output layer reads the flattened features directly")
    downsample: bool = Field(
        False, description="resnet only: the MuZero paper's Atari front in the representation (stride-2 convolutions "
        "and poolings, 96x96 frames -> a 6x6 latent); actions then enter as planes")
    value_prefix: bool = Field(
        False, description="EfficientZero's value prefix: an LSTM over the unrolled latents predicts the sum of "
        "the rewards since its last reset instead of each step's reward; the search takes differences of it")
    value_prefix_horizon: int = Field(5, ge=1, le=1000, description="steps between resets of the value prefix's "
                                      "LSTM, in training unrolls and in the search (from the root)")
    value_prefix_hidden: int = Field(64, ge=1, le=65_536, description="the value prefix's LSTM units")
    projection_dim: int = Field(
        64, ge=1, le=65_536, description="width of the projection and prediction heads of the temporal consistency "
        "loss (built only when train.consistency_weight > 0)")
    chance_codes: int = Field(
        0, ge=0, le=4096, description="Stochastic MuZero: C chance codes; each step of the model goes through an "
        "afterstate (value Q(s, a) and a distribution over the codes) and a code to the next state, and the search "
        "has chance nodes; the code of each real transition is learned by an encoder of the observations; 0 = off")
    inference: Literal["auto", "numpy", "torch"] = Field(
        "auto", description="engine for the network's calls during search: 'numpy' (MLP networks on the CPU; "
        "several times faster at search batch sizes), 'torch', or 'auto' = numpy where it applies")

    @field_validator("hidden")
    @classmethod
    def _layer_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) > 64 or any(not 1 <= units <= 65_536 for units in value):
            raise ValueError("hidden layers: at most 64, each of 1 to 65,536 units")
        return value


class ReplayConfig(_Strict):
    capacity: int = Field(100_000, ge=1, le=10_000_000_000,
                          description="transitions kept; the oldest episodes go first (checked against the memory "
                          "available when the run starts)")
    batch_size: int = Field(128, ge=1, le=1_000_000, description="at most replay.capacity")
    unroll_steps: int = Field(5, ge=0, le=1000)
    td_steps: int = Field(10, ge=0, description="rewards from the data in a value target before its bootstrap; "
                          "0 only with train.bootstrap 'max_q' or search.root_value 'max_q'/'improved'")
    prioritized: bool = True
    priority_alpha: float = Field(1.0, ge=0.0)
    priority_beta: float = Field(1.0, ge=0.0, le=1.0)
    augment_symmetries: bool = Field(
        False, description="show the learner each sample through a random symmetry of the board (or none); "
                           "for envs that declare symmetries (tic-tac-toe, connect four)")
    stack_frames: int = Field(1, ge=1, le=256)
    segment_length: int = Field(
        0, ge=0, description="long episodes enter replay in pieces of this many moves while they are still being "
        "played (each cut like a time limit: its last state's value bootstraps the targets before it), so the "
        "learner does not wait for the first episodes to end (Atari, MuJoCo); 0 = whole episodes")
    td_shrink_every: int = Field(
        0, ge=0, description="off-policy correction (EfficientZero): a value target's bootstrap horizon shrinks by "
        "one step for every this many transitions added to replay since its episode was (down to 1 step), so old "
        "data leans on the current network's values instead of its stale moves; 0 = off")

    @model_validator(mode="after")
    def _segments_hold_a_target(self) -> ReplayConfig:
        reach = self.td_steps + self.unroll_steps
        if 0 < self.segment_length <= reach:
            raise ValueError(f"replay.segment_length {self.segment_length} must be more than replay.td_steps + "
                             f"replay.unroll_steps ({reach}), or 0: in shorter segments no value target or unroll "
                             "would reach its full length")
        return self


class TrainConfig(_Strict):
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(3e-3, gt=0.0)
    lr_schedule: Literal["constant", "cosine", "exponential"] = "constant"
    lr_decay_steps: int = Field(100_000, ge=1)
    lr_decay_rate: float = Field(0.1, gt=0.0, le=1.0)
    lr_warmup_steps: int = Field(0, ge=0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    grad_clip: float = Field(5.0, gt=0.0)
    amp: bool = Field(False, description="mixed precision: the learner's forward and backward passes under "
                      "bfloat16 autocast (weights, optimizer and loss sums stay float32); for GPUs with bfloat16")
    value_loss_weight: float = Field(0.25, ge=0.0)
    policy_entropy_weight: float = Field(
        0.0, ge=0.0, description="weight of a bonus for the policy's entropy (subtracted from the loss); keeps a "
        "Sampled MuZero Gaussian policy from narrowing onto the few actions its searches tried")
    consistency_weight: float = Field(
        0.0, ge=0.0, description="temporal consistency (EfficientZero, SimSiam-style): weight of the negative cosine "
        "similarity between the dynamics' latent at each unroll step and the representation of the real observation "
        "there (through projection and prediction heads; no gradient into the observation's branch); 0 = off")
    chance_loss_weight: float = Field(
        1.0, ge=0.0, description="Stochastic MuZero (net.chance_codes): weight of the cross-entropy between each "
        "afterstate's predicted code distribution and the encoder's code of the real outcome")
    commitment_weight: float = Field(
        0.25, ge=0.0, description="Stochastic MuZero: weight of the commitment loss ||one_hot(code) - c_e||^2 that "
        "keeps the chance encoder's softmax c_e close to the one-hot code it hands the dynamics")
    replay_ratio: float = Field(0.25, gt=0.0, description="training steps per environment step")
    min_replay_size: int = Field(500, ge=1, description="transitions before training starts")
    target_update_interval: int = Field(100, ge=0, description="0 = no target network; bootstrap from stored values")
    bootstrap: Literal["value", "max_q"] = Field(
        "value", description="what an n-step value target adds after its n rewards: 'value' = the target network's "
        "value of that state (MuZero); 'max_q' = the best one-step lookahead through the target network's model, "
        "max over legal a of r(s, a) + discount * v(s'), v(s') negated when two players alternate; needs a target "
        "network. With replay.td_steps 0 every target is that lookahead from the state itself (Bellman's optimality "
        "backup through the model): values of the greedy policy, not of the exploring one, whatever share of moves "
        "explores. With td_steps n >= 1 the first n moves' rewards are the exploring policy's")
    reanalyse_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of sampled policy targets re-searched")
    value_target: Literal["td", "search", "mixed"] = Field(
        "td", description="value targets of re-searched states (train.reanalyse_fraction): 'td' = the n-step return "
        "as for every state; 'search' = the fresh search's root value (EfficientZero V2's search-based value); "
        "'mixed' = the search's root value for samples older than train.mixed_value_age transitions, the n-step "
        "return for newer ones")
    mixed_value_age: int = Field(10_000, ge=0, description="train.value_target 'mixed': transitions added since a "
                                 "sample's episode beyond which its re-searched value replaces the n-step return")
    max_consecutive_skips: int = Field(
        50, ge=1, description="updates in a row with a non-finite loss or gradient before the run stops")
    num_envs: int = Field(8, ge=1, le=4096)
    temperature: tuple[float, ...] = Field(
        (1.0, 0.5, 0.25), description="self-play's action temperature, by env step (temperature_steps): pUCT samples "
        "from visit counts ** (1 / T); Gumbel search scales its noise by T. 0 plays the search's best action")
    temperature_steps: tuple[int, ...] = (0, 10_000, 20_000)
    random_action_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="self-play: share of moves played with a uniformly random legal action "
        "instead of the search's choice (the search's policy target is kept); keeps every action's model trained "
        "where the search's own exploration dies out, e.g. in stochastic environments")
    full_search_fraction: float = Field(
        1.0, gt=0.0, le=1.0, description="playout-cap randomisation (KataGo): the share of self-play moves searched "
        "with search.num_simulations; the others get a fast search of train.fast_simulations that picks the move "
        "but leaves no policy target (their value targets still count). 1 = every move searched in full. Drawn per "
        "self-play step, for all its environments at once")
    fast_simulations: int = Field(8, ge=1, le=100_000, description="simulations of a fast search "
                                  "(train.full_search_fraction < 1)")
    temperature_moves: int | None = Field(
        None, ge=0, description="moves of each episode played at the scheduled temperature; later ones are played at "
        "temperature 0 (AlphaZero's first 30 moves in Go). null: every move")

    @model_validator(mode="after")
    def _schedule_lengths(self) -> TrainConfig:
        if len(self.temperature) != len(self.temperature_steps) or not self.temperature:
            raise ValueError("train.temperature and train.temperature_steps must be non-empty and of equal length")
        if list(self.temperature_steps) != sorted(self.temperature_steps) or self.temperature_steps[0] != 0:
            raise ValueError("train.temperature_steps must start at 0 and increase")
        if not all(math.isfinite(t) and t >= 0 for t in self.temperature):
            raise ValueError(f"train.temperature must be finite and >= 0, got {list(self.temperature)}")
        if self.value_target != "td" and self.reanalyse_fraction == 0:
            raise ValueError(f"train.value_target '{self.value_target}' takes values from reanalyse's searches; "
                             "set train.reanalyse_fraction > 0")
        if self.bootstrap == "max_q" and self.target_update_interval == 0:
            raise ValueError("train.bootstrap 'max_q' looks ahead through the target network; "
                             "set train.target_update_interval > 0")
        return self

    def temperature_at(self, env_steps: int) -> float:
        temp = self.temperature[0]
        for t, start in zip(self.temperature, self.temperature_steps):
            if env_steps >= start:
                temp = t
        return temp


class RunConfig(_Strict):
    seed: int = Field(0, ge=0)
    max_env_steps: int = Field(100_000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    eval_interval: int = Field(2_000, ge=1, description="env steps between evaluations")
    eval_episodes: int = Field(20, ge=1, le=1_000_000)
    stop_at_return: float | None = Field(None, description="stop once the evaluation mean reaches this")
    eval_opponent: str = Field(
        "auto", pattern=r"^(auto|random|expert|alphabeta:[1-9][0-9]?)$",
        description="two-player games: random | expert | alphabeta:N (connect four) | auto (the expert where the "
                    "game has one, else random); score = mean(win 1, draw 0, loss -1)")
    eval_openings: int = Field(
        0, ge=0, le=4, description="two-player games: each evaluation plays one game per side from every opening "
        "of this many moves instead of eval_episodes games per side from the start (0)")
    eval_score: Literal["mean", "worst_side"] = Field(
        "mean", description="two-player games: what an evaluation scores, and so which checkpoint is kept as best: "
        "the mean over both sides, or the worse side's mean (a checkpoint must play well as first and as second "
        "player; both sides are logged as eval/first and eval/second)")
    log_interval: int = Field(500, ge=1)
    checkpoint_seconds: float = Field(180.0, gt=0, description="seconds between resumable checkpoints")
    eval_variants: list[dict[str, Any]] = Field(
        default_factory=list, description="your own perturbed environments for `zeroplan eval --generalize`")

    @field_validator("eval_variants")
    @classmethod
    def _variants(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from zeroplan.variant import parse_variants

        parse_variants(value)  # raises ValueError naming the entry and the allowed keys
        return value
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="where the learner (and, with it, search inference) runs: auto (the first GPU "
                        "when torch sees one, else the CPU), cpu, cuda or cuda:N")
    torch_threads: int | Literal["auto"] = Field(
        "auto", description="threads of torch's pool for the updates: a count, or 'auto' = the cores free when the "
        "run starts (the machine's cores less the work already running on them; printed), so a shared machine "
        "does not collapse the run's speed", union_mode="left_to_right")

    @field_validator("torch_threads")
    @classmethod
    def _thread_count(cls, value: int | str) -> int | str:
        if value != "auto" and not 1 <= value <= 1024:
            raise ValueError("run.torch_threads: 'auto' or a count from 1 to 1024")
        return value


class Config(_Strict):
    env: EnvConfig = EnvConfig()
    net: NetConfig = NetConfig()
    search: SearchConfig = SearchConfig()
    replay: ReplayConfig = ReplayConfig()
    train: TrainConfig = TrainConfig()
    run: RunConfig = RunConfig()

    @model_validator(mode="after")
    def _td_zero(self) -> Config:
        # td_steps 0: the value target is the bootstrap of the state itself, so that
        # bootstrap must look ahead: the target network's model (max_q), or the
        # search's own root value (stored when there is no target network).
        searched = self.search.root_value != "mean" and self.train.target_update_interval == 0
        if self.replay.td_steps == 0 and self.train.bootstrap != "max_q" and not searched:
            raise ValueError("replay.td_steps 0 (a value target that is its own bootstrap) needs "
                             "train.bootstrap 'max_q', or search.root_value 'max_q' or 'improved' with "
                             "train.target_update_interval 0; otherwise it would never learn")
        return self

    @model_validator(mode="after")
    def _prefix_trained_as_searched(self) -> Config:
        if self.net.value_prefix and self.net.value_prefix_horizon > self.replay.unroll_steps:
            raise ValueError(f"net.value_prefix_horizon ({self.net.value_prefix_horizon}) is more than "
                             f"replay.unroll_steps ({self.replay.unroll_steps}): the search would step the value "
                             "prefix's LSTM further from a reset than training ever does")
        return self

    @model_validator(mode="after")
    def _rules_model(self) -> Config:
        if self.search.model != "rules":
            return self
        if self.replay.stack_frames != 1:
            raise ValueError("search.model 'rules' evaluates each position from its own observation: it needs "
                             "replay.stack_frames 1")
        if self.train.reanalyse_fraction > 0:
            raise ValueError("search.model 'rules' searches copies of the live environments, which replay does not "
                             "keep: train.reanalyse_fraction must be 0")
        if self.train.bootstrap == "max_q" and self.replay.unroll_steps == 0:
            raise ValueError("train.bootstrap 'max_q' looks ahead through the learned dynamics, which nothing "
                             "trains with search.model 'rules' and replay.unroll_steps 0; use bootstrap 'value'")
        return self

    @model_validator(mode="after")
    def _sampled(self) -> Config:
        if not self.search.sampled_actions:
            return self
        clash = [what for what, on in (("search.model 'rules'", self.search.model == "rules"),
                                       ("replay.augment_symmetries", self.replay.augment_symmetries),
                                       ("train.bootstrap 'max_q'", self.train.bootstrap == "max_q")) if on]
        if clash:
            raise ValueError(f"search.sampled_actions (Sampled MuZero) cannot be combined with {', '.join(clash)}")
        return self

    @model_validator(mode="after")
    def _chance(self) -> Config:
        if not self.net.chance_codes:
            return self
        clash = [what for what, on in (("search.model 'rules'", self.search.model == "rules"),
                                       ("search.sampled_actions", self.search.sampled_actions > 0),
                                       ("net.value_prefix", self.net.value_prefix),
                                       ("net.kind 'resnet'", self.net.kind == "resnet")) if on]
        if clash:
            raise ValueError(f"net.chance_codes (Stochastic MuZero) cannot be combined with {', '.join(clash)} yet")
        if self.replay.unroll_steps < 1:
            raise ValueError("net.chance_codes (Stochastic MuZero) learns its chance codes from unrolled steps: "
                             "replay.unroll_steps must be >= 1")
        if self.replay.td_steps < 1:
            raise ValueError("net.chance_codes (Stochastic MuZero): an afterstate's value Q(s, a) learns from the "
                             "value target at s, which must be a return that starts with the action taken: "
                             "replay.td_steps must be >= 1")
        return self

    @model_validator(mode="after")
    def _fast_searches_are_fast(self) -> Config:
        if self.train.full_search_fraction < 1 and self.train.fast_simulations >= self.search.num_simulations:
            raise ValueError(f"train.fast_simulations {self.train.fast_simulations} must be fewer than "
                             f"search.num_simulations {self.search.num_simulations} (the full searches)")
        return self

    @model_validator(mode="after")
    def _batch_fits(self) -> Config:
        if self.replay.batch_size > self.replay.capacity:
            raise ValueError(f"replay.batch_size ({self.replay.batch_size}) is more than replay.capacity "
                             f"({self.replay.capacity}): a batch is drawn from the buffer")
        return self


def _preset_dir(family: str):
    """MuZero presets live in presets/, other algorithms' in presets/<algo>/."""
    root = resources.files("zeroplan.presets")
    return root.joinpath(family) if family else root


def preset_names(family: str = "") -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _preset_dir(family).iterdir() if p.name.endswith(".yaml"))


def preset_for(env_or_preset: str, family: str = "") -> str | None:
    """The preset's name for a preset name or an env id that has one: its
    env.id, or one of its `for_ids` (a preset shared by several envs, e.g. the
    MinAtar games)."""
    key = env_or_preset.lower()
    names = preset_names(family)
    if key in names:
        return key
    for name in names:  # by env id. Found by name only: presets that change the env's own arguments,
        data = load_preset(name, family)  # and the Stochastic MuZero variants of an env's preset (chance codes)
        env = data.get("env", {})
        ids = [str(env.get("id", ""))] + [str(i) for i in data.get("for_ids", [])]
        if key in (i.lower() for i in ids) and not env.get("kwargs") \
                and not (data.get("net") or {}).get("chance_codes"):
            return name
    return None


def load_preset(name: str, family: str = "") -> dict[str, Any]:
    text = _preset_dir(family).joinpath(f"{name}.yaml").read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name!r} is not a mapping")
    return data


def _settle_preset(data: dict[str, Any], asked: str) -> dict[str, Any]:
    """A preset's config for the env asked for: a shared preset's `for_ids`
    dropped, and env.id the one of them asked for."""
    ids = {str(i).lower(): str(i) for i in data.pop("for_ids", [])}
    if asked.lower() in ids:
        data = merge(data, {"env": {"id": ids[asked.lower()]}})
    return data


def build_config(data: dict[str, Any], model: type[BaseModel] = Config) -> Any:
    """Validate a nested dict against `model` (default: MuZero's Config); any
    problem becomes one ConfigError naming the key."""
    _check_keys(data, model)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "config"
            # (a check across sections has the whole config as its input: not repeated)
            got = f" (got {e.get('input')!r})" if e["loc"] else ""
            lines.append(f"{key}: {e['msg']}{got}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def _check_keys(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> None:
    """Unknown keys, with close matches suggested (pydantic only says 'extra')."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or 'root'!r} must be a mapping, got {data!r}")
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=3)
            hint = f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""
            raise ConfigError(f"unknown config key {prefix + str(key)!r}{hint} "
                              f"(allowed in {prefix.rstrip('.') or 'the root'}: {', '.join(fields)})")
        sub = fields[key].annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            _check_keys(value, sub, prefix + key + ".")


def load_config(env_or_preset: str | None = None, overrides: dict[str, Any] | None = None,
                dotted: list[str] | None = None, model: type[BaseModel] = Config, family: str = "") -> Any:
    """Preset (chosen by name or env id when one exists), then overrides, then
    dotted pairs, validated against `model`; `family` picks the preset folder
    ("" for MuZero, "pets" for presets/pets/)."""
    data: dict[str, Any] = {}
    if env_or_preset is not None:
        name = preset_for(env_or_preset, family)
        if name is not None:
            data = _settle_preset(load_preset(name, family), env_or_preset)
        else:
            data = {"env": {"id": env_or_preset}}
    data = merge(data, overrides or {})
    data = merge(data, parse_overrides(dotted or []))
    return build_config(data, model)
