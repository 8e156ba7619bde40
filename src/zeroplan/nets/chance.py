"""Stochastic MuZero's parts (Antonoglou et al. 2022), for the MLP network.

A step of the model is split in two. The core's dynamics, given the state's
latent and the action, makes the *afterstate* (the effect of the action before
the world's chance outcome); `afterstate_prediction` reads from it the value
Q(s, a) and a distribution sigma over C chance codes; `chance_dynamics` takes
the afterstate and a code to the next state's latent (the core's reward and
prediction heads read that latent as usual).

In training the code of each real transition comes from `encode`, an encoder
over the observations before and after it: a softmax c_e over the C codes,
turned into the one-hot of its argmax with a straight-through gradient (the
forward value is one-hot, the gradient that of c_e), so the dynamics' loss
trains the encoder. sigma learns to predict the encoder's codes, and a
commitment loss ||one_hot - c_e||^2 keeps c_e close to one-hot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zeroplan.nets.mlp import MLP, hidden_layers, zero_


def straight_through_one_hot(probs: torch.Tensor) -> torch.Tensor:
    """one_hot(argmax probs) forward; the gradient of `probs` backward."""
    hard = F.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
    return hard + probs - probs.detach()


class ChanceParts(nn.Module):
    def __init__(self, obs_dim: int, latent_dim: int, num_codes: int, hidden: tuple[int, ...], support: int):
        super().__init__()
        self.num_codes = num_codes
        self.trunk, width = hidden_layers(latent_dim, hidden)
        self.value_head = zero_(nn.Linear(width, support))
        self.code_head = zero_(nn.Linear(width, num_codes))  # an untrained net predicts uniform codes
        self.dynamics_net = MLP(latent_dim + num_codes, hidden, latent_dim)
        self.encoder = MLP(2 * obs_dim, hidden[-1:], num_codes)  # one hidden layer: it only tells outcomes apart

    def afterstate_prediction(self, afterstate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """afterstate [B, L] -> (value logits [B, S'], code logits [B, C])."""
        x = self.trunk(afterstate)
        return self.value_head(x), self.code_head(x)

    def chance_dynamics(self, afterstate: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """afterstate [B, L] and a code: [B] indices or [B, C] (one-hot, maybe straight-through) ->
        the next latent, before scaling."""
        if code.dim() == 1:
            code = F.one_hot(code.long(), self.num_codes)
        return self.dynamics_net(torch.cat([afterstate, code.to(afterstate.dtype)], dim=1))

    def encode(self, obs: torch.Tensor, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The observations around transitions [B, ...] (each cast to float) -> (straight-through
        one-hot codes [B, C], the encoder's softmax c_e [B, C])."""
        x = torch.cat([obs.flatten(1), next_obs.flatten(1)], dim=1).to(self.encoder.out.weight.dtype)
        probs = torch.softmax(self.encoder(x), dim=-1)
        return straight_through_one_hot(probs), probs
