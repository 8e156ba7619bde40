"""The MuZero loss and the optimizer step.

Per sample: policy cross-entropy, value and reward cross-entropy against
two-hot targets on the support, summed over the unroll. As in the paper, the
gradient entering the dynamics is halved at every step and the loss of each
unrolled step (k >= 1) is scaled by 1/K, so the total gradient does not grow
with the unroll length. Importance weights from prioritized replay multiply
each sample's loss; new priorities are |predicted value - value target| at k=0.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from zeroplan.config import TrainConfig
from zeroplan.muzero.replay import Batch
from zeroplan.nets.support import scalar_to_support, support_to_scalar


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by `scale`."""
    return x * scale + x.detach() * (1 - scale)


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def lr_lambda(config: TrainConfig):
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / config.lr_warmup_steps) if config.lr_warmup_steps else 1.0
        if config.lr_schedule == "cosine":
            progress = min(1.0, step / config.lr_decay_steps)
            decay = config.lr_decay_rate + (1 - config.lr_decay_rate) * 0.5 * (1 + math.cos(math.pi * progress))
        elif config.lr_schedule == "exponential":
            decay = config.lr_decay_rate ** (step / config.lr_decay_steps)
        else:
            decay = 1.0
        return warm * decay

    return factor


class Learner:
    def __init__(self, net: torch.nn.Module, config: TrainConfig, support_size: int, unroll_steps: int):
        self.net = net
        self.config = config
        self.support_size = support_size
        self.unroll_steps = unroll_steps
        params = [p for p in net.parameters() if p.requires_grad]
        if config.optimizer == "adam":
            self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config))
        self.target_net = copy.deepcopy(net).eval() if config.target_update_interval > 0 else None
        self.steps = 0
        self.skipped_updates = 0

    def target_values(self, obs: np.ndarray) -> np.ndarray:
        """Bootstrap values from the target network (fresh values for old data)."""
        with torch.inference_mode():
            out = self.target_net.initial_inference(torch.as_tensor(obs))
            return support_to_scalar(out.value_logits, self.support_size).double().numpy()

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        t = {k: torch.as_tensor(getattr(batch, k)) for k in (
            "obs", "actions", "target_values", "target_rewards", "target_policies", "value_mask", "reward_mask",
            "policy_mask", "weights")}
        s = self.support_size
        out = self.net.initial_inference(t["obs"])
        value0 = support_to_scalar(out.value_logits.detach(), s)
        value_loss = _soft_ce(out.value_logits, scalar_to_support(t["target_values"][:, 0], s)) * t["value_mask"][:, 0]
        policy_loss = _soft_ce(out.policy_logits, t["target_policies"][:, 0]) * t["policy_mask"][:, 0]
        reward_loss = torch.zeros_like(value_loss)
        latent = out.latent
        k_total = self.unroll_steps
        for k in range(1, k_total + 1):
            step = self.net.recurrent_inference(latent, t["actions"][:, k - 1])
            v = _soft_ce(step.value_logits, scalar_to_support(t["target_values"][:, k], s)) * t["value_mask"][:, k]
            p = _soft_ce(step.policy_logits, t["target_policies"][:, k]) * t["policy_mask"][:, k]
            r = _soft_ce(step.reward_logits, scalar_to_support(t["target_rewards"][:, k], s)) * t["reward_mask"][:, k]
            value_loss = value_loss + scale_gradient(v, 1.0 / k_total)
            policy_loss = policy_loss + scale_gradient(p, 1.0 / k_total)
            reward_loss = reward_loss + scale_gradient(r, 1.0 / k_total)
            latent = scale_gradient(step.latent, 0.5)
        per_sample = policy_loss + self.config.value_loss_weight * value_loss + reward_loss
        loss = (per_sample * t["weights"]).mean()
        parts = {"value_loss": value_loss.mean(), "policy_loss": policy_loss.mean(), "reward_loss": reward_loss.mean()}
        priorities = (value0 - t["target_values"][:, 0]).abs()
        return loss, parts, priorities

    def train_step(self, batch: Batch) -> tuple[dict[str, float], np.ndarray | None]:
        """One update. Returns metrics and new priorities; a non-finite loss or
        gradient skips the update (counted) and returns no priorities."""
        self.net.train()
        loss, parts, priorities = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            self.skipped_updates += 1
            return {"loss": float("nan"), "skipped_updates": self.skipped_updates}, None
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_updates += 1
            return {"loss": float(loss), "skipped_updates": self.skipped_updates}, None
        self.optimizer.step()
        self.scheduler.step()
        self.steps += 1
        if self.target_net is not None and self.steps % self.config.target_update_interval == 0:
            self.target_net.load_state_dict(self.net.state_dict())
        self.net.eval()
        metrics = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()},
                   "grad_norm": float(grad_norm), "lr": self.scheduler.get_last_lr()[0],
                   "skipped_updates": self.skipped_updates}
        return metrics, priorities.numpy()
