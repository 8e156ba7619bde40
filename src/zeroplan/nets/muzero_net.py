"""MuZeroNet: representation h, dynamics g, prediction f (Schrittwieser et al. 2020).

Two entry points, as in the paper: `initial_inference(obs)` runs h then f,
`recurrent_inference(latent, action)` runs g then f. Every latent is min-max
scaled to [0, 1] per sample (paper, appendix G): the dynamics is applied to
its own outputs many times in a row, and a fixed range keeps those inputs
alike whether they came from h or from g.

`nets.search_model.SearchModel` is the numpy face the torch-free tree search sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from zeroplan.nets.chance import ChanceParts
from zeroplan.nets.mlp import MLPCore
from zeroplan.nets.numpy_inference import MIN_RANGE
from zeroplan.nets.resnet import ResNetCore
from zeroplan.nets.support import support_to_scalar

KINDS = ("mlp", "resnet")


def scale_gradient(x: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by `scale`."""
    return x * scale + x.detach() * (1 - scale)


def scale_latent(latent: torch.Tensor) -> torch.Tensor:
    """Min-max scale each sample, over all its features, to [0, 1]."""
    flat = latent.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    high = flat.max(dim=1, keepdim=True).values
    scaled = (flat - low) / (high - low).clamp(min=MIN_RANGE)
    return scaled.view_as(latent)


@dataclass
class NetOutput:
    latent: torch.Tensor  # [B, ...], scaled to [0, 1] per sample
    value_logits: torch.Tensor  # [B, 2S+1]
    policy_logits: torch.Tensor  # [B, A]
    reward_logits: torch.Tensor | None  # [B, 2S+1] for recurrent_inference, None for initial


@dataclass
class ChanceUnroll:
    """What a training unroll with chance codes adds, per unrolled step k = 0..K-1."""

    afterstate_value_logits: torch.Tensor  # [K, B, 2S+1], Q(s_k, a_k)
    code_logits: torch.Tensor  # [K, B, C], sigma of the afterstate
    codes: torch.Tensor  # [K, B, C], the encoder's one-hot codes (straight-through)
    encoder_probs: torch.Tensor  # [K, B, C], the encoder's softmax c_e


class ConsistencyHeads(nn.Module):
    """EfficientZero's heads for temporal consistency: a projection of the
    flattened latent and a smaller predictor on top (SimSiam's asymmetry: only
    the online branch has the predictor)."""

    def __init__(self, latent_size: int, width: int):
        super().__init__()
        self.projection = nn.Sequential(nn.Linear(latent_size, width), nn.LayerNorm(width), nn.ReLU(),
                                        nn.Linear(width, width))
        self.predictor = nn.Sequential(nn.Linear(width, max(1, width // 2)), nn.LayerNorm(max(1, width // 2)),
                                       nn.ReLU(), nn.Linear(max(1, width // 2), width))

    def project(self, flat: torch.Tensor) -> torch.Tensor:
        return self.projection(flat)

    def predict(self, projected: torch.Tensor) -> torch.Tensor:
        return self.predictor(projected)


class ValuePrefix(nn.Module):
    """EfficientZero's value prefix: an LSTM over the unrolled latents whose
    output predicts the sum of the rewards since its state was last reset
    (on the value support; the output layer starts at zero, so an untrained
    net predicts 0)."""

    def __init__(self, latent_size: int, hidden: int, support: int):
        super().__init__()
        self.hidden = hidden
        self.cell = nn.LSTMCell(latent_size, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, support)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, latent: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(latent [B, ...], (h, c) or None for a fresh state) -> (prefix logits [B, S'], new (h, c))."""
        h, c = self.cell(latent.flatten(1), state)
        return self.out(torch.relu(self.norm(h))), (h, c)


def _check_positive(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class MuZeroNet(nn.Module):
    """kind="mlp" takes any observation shape (flattened); kind="resnet" needs
    (channels, height, width) and keeps latents of shape (channels, height, width);
    `action_encoding` (resnet only) lays the action out as planes, and `head_hidden`
    (resnet only) gives the value and reward heads a hidden layer, see nets/resnet.py."""

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, *, kind: str = "mlp",
                 support_size: int = 10, latent_dim: int = 64, hidden: tuple[int, ...] = (128, 128),
                 channels: int = 32, blocks: int = 2, action_encoding: str = "auto", head_hidden: int = 0,
                 projection_dim: int = 0, value_prefix_hidden: int = 0, value_prefix_horizon: int = 5,
                 action_dim: int = 0, chance_codes: int = 0, downsample: bool = False):
        super().__init__()
        obs_shape = tuple(int(d) for d in obs_shape)
        if kind not in KINDS:
            raise ValueError(f"unknown net kind {kind!r}; expected one of {', '.join(map(repr, KINDS))}")
        if len(obs_shape) == 0 or any(d < 1 for d in obs_shape):
            raise ValueError(f"obs_shape must be a non-empty tuple of positive sizes, got {obs_shape}")
        if kind == "resnet" and len(obs_shape) != 3:
            raise ValueError(f"kind='resnet' needs a 3-D observation shape (channels, height, width), got "
                             f"{obs_shape}; use kind='mlp' for vector observations")
        _check_positive("num_actions", num_actions)
        _check_positive("support_size", support_size)
        self.obs_shape = obs_shape
        self.num_actions = int(num_actions)
        self.support_size = int(support_size)
        self.kind = kind
        _check_positive("action_dim", action_dim, minimum=0)
        self.action_dim = int(action_dim)
        if action_dim and kind != "mlp":
            raise ValueError("continuous actions (Sampled MuZero) are built for kind='mlp' only so far")
        if kind == "mlp":
            _check_positive("latent_dim", latent_dim)
            for width in hidden:
                _check_positive("every hidden width", width)
            self.core: MLPCore | ResNetCore = MLPCore(math.prod(obs_shape), self.num_actions, self.support_size,
                                                      int(latent_dim), tuple(int(w) for w in hidden),
                                                      self.action_dim)
        else:
            _check_positive("channels", channels)
            _check_positive("blocks", blocks, minimum=0)
            _check_positive("head_hidden", head_hidden, minimum=0)
            self.core = ResNetCore(obs_shape, self.num_actions, self.support_size, int(channels), int(blocks),
                                   action_encoding, int(head_hidden), bool(downsample))
        self.latent_shape: tuple[int, ...] = self.core.latent_shape
        # Built after the core, so a net without them draws the same initial weights.
        self.consistency = ConsistencyHeads(math.prod(self.latent_shape), int(projection_dim)) \
            if projection_dim else None
        _check_positive("value_prefix_horizon", value_prefix_horizon)
        self.value_prefix_horizon = int(value_prefix_horizon)
        self.value_prefix = ValuePrefix(math.prod(self.latent_shape), int(value_prefix_hidden),
                                        2 * self.support_size + 1) if value_prefix_hidden else None
        _check_positive("chance_codes", chance_codes, minimum=0)
        self.chance_codes = int(chance_codes)
        if chance_codes and (kind != "mlp" or action_dim or value_prefix_hidden):
            raise ValueError("chance codes (Stochastic MuZero) are built for kind='mlp' with discrete actions and "
                             "no value prefix so far")
        self.chance = ChanceParts(math.prod(obs_shape), int(latent_dim), self.chance_codes, tuple(hidden),
                                  2 * self.support_size + 1) if chance_codes else None
        self._batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.modules())

    def _param(self) -> torch.Tensor:
        return next(self.parameters())

    def initial_inference(self, obs: torch.Tensor) -> NetOutput:
        """obs [B, *obs_shape] (any real dtype; cast to the weights' dtype)."""
        latent = self._represent(obs)
        policy_logits, value_logits = self.core.prediction(latent)
        return NetOutput(latent, value_logits, policy_logits, None)

    def _represent(self, obs: torch.Tensor) -> torch.Tensor:
        """The scaled latent of observations (any real dtype; cast to the weights')."""
        self.check_obs_shape(tuple(obs.shape))
        param = self._param()
        return scale_latent(self.core.representation(obs.to(device=param.device, dtype=param.dtype)))

    def check_obs_shape(self, shape: tuple[int, ...]) -> None:
        if tuple(shape[1:]) != self.obs_shape:
            raise ValueError(f"observations must have shape [B, {', '.join(map(str, self.obs_shape))}], "
                             f"got {list(shape)}")

    def _action(self, action: torch.Tensor) -> torch.Tensor:
        """Discrete actions as long indices; continuous ones as vectors in the weights' dtype."""
        return action.to(self._param().dtype) if self.action_dim else action.long()

    def _check_step(self, latent: torch.Tensor, action: torch.Tensor) -> None:
        shape = latent.shape[:1] + ((self.action_dim,) if self.action_dim else ())
        if tuple(latent.shape[1:]) != self.latent_shape or action.shape != shape:
            raise ValueError(f"expected latent [B, {', '.join(map(str, self.latent_shape))}] and action "
                             f"{list(shape)}, got {list(latent.shape)} and {list(action.shape)}")

    def recurrent_inference(self, latent: torch.Tensor, action: torch.Tensor) -> NetOutput:
        """latent [B, *latent_shape], action [B] integer (cast to long), or [B, D] with continuous actions."""
        if self.chance is not None:
            raise ValueError("a network with chance codes steps in two: afterstate_inference(latent, action), then "
                             "chance_inference(afterstate, code)")
        self._check_step(latent, action)
        next_latent = scale_latent(self.core.dynamics(latent, self._action(action)))
        if self.value_prefix is not None:  # one step from a fresh state: the prefix is that step's reward
            reward_logits, _ = self.value_prefix(next_latent, None)
        else:
            reward_logits = self.core.reward(next_latent)
        policy_logits, value_logits = self.core.prediction(next_latent)
        return NetOutput(next_latent, value_logits, policy_logits, reward_logits)

    def afterstate_inference(self, latent: torch.Tensor, action: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(latent [B, L], action [B]) -> (afterstate [B, L], Q logits [B, S'], code logits [B, C])."""
        self._check_step(latent, action)
        afterstate = scale_latent(self.core.dynamics(latent, self._action(action)))
        value_logits, code_logits = self.chance.afterstate_prediction(afterstate)
        return afterstate, value_logits, code_logits

    def chance_inference(self, afterstate: torch.Tensor, code: torch.Tensor) -> NetOutput:
        """(afterstate [B, L], code [B] index or [B, C] one-hot) -> the next state's outputs."""
        next_latent = scale_latent(self.chance.chance_dynamics(afterstate, code))
        policy_logits, value_logits = self.core.prediction(next_latent)
        return NetOutput(next_latent, value_logits, policy_logits, self.core.reward(next_latent))

    def unroll_chance(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                      with_latents: bool = False) -> tuple:
        """`unroll` for a network with chance codes: each step goes through the
        afterstate of the action and the code the encoder reads off the real
        observations around it. next_obs [B, K, *obs_shape] are those at t+1..t+K.
        Returns `unroll`'s outputs, then the latents (or None), then a `ChanceUnroll`."""
        if actions.shape[:1] != obs.shape[:1] or next_obs.shape[:2] != actions.shape[:2]:
            raise ValueError(f"expected actions [B, K] and next_obs [B, K, ...] for {obs.shape[0]} observations, got "
                             f"{list(actions.shape)} and {list(next_obs.shape)}")
        param = self._param()
        latent = self._represent(obs)
        latents, afterstates, codes, probs = [latent], [], [], []
        x, before = latent, obs.to(device=param.device)
        for k in range(actions.shape[1]):
            after = scale_latent(self.core.dynamics(x, self._action(actions[:, k])))
            later = next_obs[:, k].to(device=param.device)
            code, p = self.chance.encode(before, later)
            nxt = scale_latent(self.chance.chance_dynamics(after, code))
            afterstates.append(after)
            codes.append(code)
            probs.append(p)
            latents.append(nxt)
            x, before = scale_gradient(nxt, 0.5), later
        steps, batch = len(latents), latent.shape[0]
        policy, value = self.core.prediction(torch.cat(latents))
        value, policy = value.view(steps, batch, -1), policy.view(steps, batch, -1)
        if steps > 1:
            reward = self.core.reward(torch.cat(latents[1:])).view(steps - 1, batch, -1)
            q, sigma = self.chance.afterstate_prediction(torch.cat(afterstates))
            extra = ChanceUnroll(q.view(steps - 1, batch, -1), sigma.view(steps - 1, batch, -1), torch.stack(codes),
                                 torch.stack(probs))
        else:
            reward = value.new_zeros((0, batch, value.shape[-1]))
            empty = value.new_zeros((0, batch, self.chance_codes))
            extra = ChanceUnroll(value[:0], empty, empty, empty)
        lat = (torch.cat(latents[1:]) if steps > 1 else latent[:0]) if with_latents else None
        return value, policy, reward, lat, extra

    def consistency_loss(self, latents: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Negative cosine similarity [N] between the prediction head's output
        for the dynamics' latents [N, *latent_shape] and the projection of the
        representation of the real observations [N, *obs_shape] at those steps.
        The observations' branch is a target: computed without gradient."""
        if self.consistency is None:
            raise ValueError("this network has no consistency heads (built with projection_dim 0)")
        training = self.training and self._batchnorm
        if training:
            self.eval()  # the target branch leaves BatchNorm's running statistics alone
        with torch.no_grad():
            target = self.consistency.project(self._represent(next_obs).flatten(1))
        if training:
            self.train(True)
        online = self.consistency.predict(self.consistency.project(latents.flatten(1)))
        return -torch.nn.functional.cosine_similarity(online, target, dim=-1)

    def unroll(self, obs: torch.Tensor, actions: torch.Tensor, with_latents: bool = False) -> tuple[torch.Tensor, ...]:
        """The training unroll: representation, then K dynamics steps with the
        gradient into each step's input latent halved (as in the paper), with
        the prediction and reward heads run once over all steps' latents.

        obs [B, *obs_shape], actions [B, K] (or [B, K, D] continuous) -> value logits [K+1, B, S'],
        policy logits [K+1, B, A], reward logits [K, B, S'] (S' = 2S+1), and
        with `with_latents` the dynamics' latents [K * B, *latent_shape], step-major.
        """
        if actions.shape[:1] != obs.shape[:1]:
            raise ValueError(f"expected actions [B, K] for {obs.shape[0]} observations, got {list(actions.shape)}")
        latent = self._represent(obs)
        latents = [latent]
        x = latent
        for k in range(actions.shape[1]):
            nxt = scale_latent(self.core.dynamics(x, self._action(actions[:, k])))
            latents.append(nxt)
            x = scale_gradient(nxt, 0.5)
        steps, batch = len(latents), latent.shape[0]
        policy, value = self.core.prediction(torch.cat(latents))
        value = value.view(steps, batch, -1)
        policy = policy.view(steps, batch, -1)
        if steps > 1 and self.value_prefix is not None:
            reward = self._prefix_unroll(latents[1:])
        elif steps > 1:
            reward = self.core.reward(torch.cat(latents[1:])).view(steps - 1, batch, -1)
        else:
            reward = value.new_zeros((0, batch, value.shape[-1]))
        if with_latents:  # the dynamics' latents [K * B, ...], step-major, e.g. for the consistency loss
            return value, policy, reward, torch.cat(latents[1:]) if steps > 1 else latent[:0]
        return value, policy, reward

    def _prefix_unroll(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Value-prefix logits [K, B, S'] over the dynamics' latents, the
        recurrent state reset before steps 1, H + 1, 2H + 1, ..."""
        state, out = None, []
        for k, latent in enumerate(latents):
            logits, state = self.value_prefix(latent, None if k % self.value_prefix_horizon == 0 else state)
            out.append(logits)
        return torch.stack(out)

    def value(self, value_logits: torch.Tensor) -> torch.Tensor:
        """Scalar values [B], in the logits' dtype (computed in float64, so an
        untrained network's value is exactly 0)."""
        return support_to_scalar(value_logits.double(), self.support_size).to(value_logits.dtype)

    def reward(self, reward_logits: torch.Tensor) -> torch.Tensor:
        """Scalar rewards [B]; see `value`."""
        return support_to_scalar(reward_logits.double(), self.support_size).to(reward_logits.dtype)
