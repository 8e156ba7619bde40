"""The MuZero loss and the optimizer step.

Per sample: policy cross-entropy, value and reward cross-entropy against
two-hot targets on the support, summed over the unroll. As in the paper, the
gradient entering the dynamics is halved at every step and the loss of each
unrolled step (k >= 1) is scaled by 1/K, so the total gradient does not grow
with the unroll length. Importance weights from prioritized replay multiply
each sample's loss; new priorities are |predicted value - value target| at k=0.

With `net.value_prefix`, the reward head's targets are value prefixes: the
rewards summed since the last reset of its LSTM (`value_prefix_targets`); its
loss is reported as value_prefix_loss instead of reward_loss.

With `train.consistency_weight` > 0, EfficientZero's temporal consistency
joins the sum: at each unrolled step k >= 1 where a real observation exists,
the negative cosine similarity between the dynamics' latent (projected, then
predicted) and the projected representation of that observation, which is a
target (no gradient), scaled by 1/K like the other unrolled terms.

With a sampled search (Sampled MuZero, mcts.sampled) the policy target at a
state is over the S actions its search sampled (`Batch.policy_codes`), and
the policy term is -sum_j target_j log pi(a_j): the Gaussian's log density of
each code for continuous actions, the log softmax at each index for discrete
ones (`sampled_policy_ce`). `train.policy_entropy_weight` subtracts that
much of the policy's entropy per step.

With `net.chance_codes` (Stochastic MuZero, nets/chance.py) every unrolled
step k = 0..K-1 goes through the afterstate of its action and the code the
encoder reads off the real observations around the transition, and adds, where
the transition is real: the afterstate value Q(s_k, a_k) against the value
target at k (weighted like the value loss), the cross-entropy of the
afterstate's code distribution against the encoder's code (no gradient into
the code; `train.chance_loss_weight`), and the commitment loss
||one_hot - c_e||^2 (`train.commitment_weight`), each scaled by 1/K.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from zeroplan.config import TrainConfig
from zeroplan.mcts.sampled import LOG_STD_MAX, LOG_STD_MIN
from zeroplan.muzero.replay import Batch
from zeroplan.nets.muzero_net import scale_gradient
from zeroplan.nets.support import scalar_to_support, support_to_scalar


# The learner's metrics that runs log as train/<name>, on both backends.
TRAIN_METRICS = ("loss", "value_loss", "policy_loss", "reward_loss", "value_prefix_loss", "consistency_loss",
                 "afterstate_value_loss", "chance_loss", "commitment_loss", "lr", "grad_norm")


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def gaussian_parts(params: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gaussian head's [..., 2D] output -> (mean, log std clamped as mcts.sampled clips it)."""
    return params[..., :dim], params[..., dim:].clamp(LOG_STD_MIN, LOG_STD_MAX)


def sampled_policy_ce(policy: torch.Tensor, codes: torch.Tensor, target: torch.Tensor, action_dim: int
                      ) -> torch.Tensor:
    """-sum_j target_j log pi(code_j) [...]: `policy` [..., P] the head's output, `codes`
    [..., S, D] (continuous, pre-squash) or [..., S] indices, `target` [..., S]."""
    if action_dim:
        mean, log_std = gaussian_parts(policy, action_dim)
        z = (codes - mean.unsqueeze(-2)) * torch.exp(-log_std).unsqueeze(-2)
        log_prob = (-0.5 * z * z - log_std.unsqueeze(-2) - 0.5 * math.log(2 * math.pi)).sum(-1)
    else:
        log_prob = torch.gather(F.log_softmax(policy, dim=-1), -1, codes.long())
    return -(target * log_prob).sum(-1)


def policy_entropy(policy: torch.Tensor, action_dim: int) -> torch.Tensor:
    """The entropy of the head's policy [...]: a Gaussian's (before the squash), or the softmax's."""
    if action_dim:
        _, log_std = gaussian_parts(policy, action_dim)
        return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)
    logp = F.log_softmax(policy, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def value_prefix_targets(rewards: torch.Tensor, horizon: int) -> torch.Tensor:
    """[B, K] rewards of unrolled steps 1..K -> the value prefix at each step:
    the sum of the rewards since the last reset (before steps 1, H + 1, ...)."""
    out = torch.empty_like(rewards)
    for k in range(rewards.shape[1]):
        out[:, k] = rewards[:, k] + (out[:, k - 1] if k % horizon else 0.0)
    return out


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


def _adamw(params: list, config: TrainConfig) -> torch.optim.Optimizer:
    try:
        # Older torch accepts fused=True and only fails at the first step on CPU.
        probe = torch.zeros(1, requires_grad=True)
        probe.grad = torch.zeros(1)
        torch.optim.AdamW([probe], fused=True).step()
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


class Learner:
    def __init__(self, net: torch.nn.Module, config: TrainConfig, support_size: int, unroll_steps: int):
        self.net = net
        self.config = config
        self.support_size = support_size
        self.unroll_steps = unroll_steps
        params = [p for p in net.parameters() if p.requires_grad]
        # Not a Python loop over the parameters: AdamW's fused kernel (one pass
        # over all of them, in CPU builds of torch >= 2.4; about half of foreach's
        # time for CartPole's network, benchmarks/learner_step.py), else foreach's
        # multi-tensor kernels (torch only picks either by default on GPUs).
        if config.optimizer == "adam":
            self.optimizer = _adamw(params, config)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay, foreach=True)
        # Switching train/eval mode walks every submodule; it only matters for
        # layers that behave differently in training (BatchNorm in the conv net).
        self._modal = any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.dropout._DropoutNd))
                          for m in net.modules())
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config))
        self.target_net = copy.deepcopy(net).eval() if config.target_update_interval > 0 else None
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skips = 0

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything but the network's own weights, for resuming: target network
        and optimizer tensors (safetensors) and the rest as JSON."""
        tensors: dict[str, torch.Tensor] = {}
        if self.target_net is not None:
            tensors.update({f"target.{k}": v for k, v in self.target_net.state_dict().items()})
        opt = self.optimizer.state_dict()
        plain: dict[str, dict] = {}
        for idx, entry in opt["state"].items():
            plain[str(idx)] = {}
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{idx}.{key}"] = value
                else:
                    plain[str(idx)][key] = value
        info = {"steps": self.steps, "skipped_updates": self.skipped_updates,
                "consecutive_skips": self.consecutive_skips, "param_groups": opt["param_groups"],
                "optimizer_plain_state": plain, "scheduler": self.scheduler.state_dict()}
        return tensors, info

    def load_state(self, tensors: dict[str, torch.Tensor], info: dict) -> None:
        if self.target_net is not None:
            prefix = "target."
            self.target_net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        state: dict[int, dict] = {int(i): dict(v) for i, v in info["optimizer_plain_state"].items()}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, idx, key = name.split(".", 2)
                state.setdefault(int(idx), {})[key] = value
        groups = []
        for saved, current in zip(info["param_groups"], self.optimizer.state_dict()["param_groups"]):
            group = {k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in saved.items()}
            # The kernel is this torch's choice, not the saving one's.
            group.update({k: current[k] for k in ("fused", "foreach") if k in current})
            groups.append(group)
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        self.scheduler.load_state_dict(info["scheduler"])
        self.steps = int(info["steps"])
        self.skipped_updates = int(info["skipped_updates"])
        self.consecutive_skips = int(info["consecutive_skips"])

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """All unroll steps at once: one prediction over every step's latent, one
        cross-entropy per head over [K+1, B]. Matches tests/reference/learner_loss.py."""
        device = next(self.net.parameters()).device  # run.device: batches go where the network is
        t = {k: torch.as_tensor(getattr(batch, k)).to(device, non_blocking=True) for k in (
            "obs", "actions", "target_values", "target_rewards", "target_policies", "value_mask", "reward_mask",
            "policy_mask", "weights")}
        s = self.support_size
        consistency = self.config.consistency_weight > 0 and batch.next_obs is not None
        action_dim = getattr(self.net, "action_dim", 0)
        sampled = batch.policy_codes is not None
        actions = torch.tanh(t["actions"]) if action_dim else t["actions"]  # continuous: codes -> actions
        chance = getattr(self.net, "chance", None) is not None
        if chance:
            if batch.next_obs is None:
                raise ValueError("a network with chance codes learns them from the observations at the unrolled "
                                 "steps: the batch needs next_obs")
            value_logits, policy_logits, reward_logits, lat, extra = self.net.unroll_chance(
                t["obs"], actions, torch.as_tensor(batch.next_obs).to(device), with_latents=consistency)
            latents = [lat] if consistency else []
        else:
            value_logits, policy_logits, reward_logits, *latents = self.net.unroll(
                t["obs"], actions, with_latents=consistency)  # [K+1, B, ...]
        steps = value_logits.shape[0]
        # Step k >= 1 enters the gradient with weight 1/K (the forward value is unchanged).
        step_scale = torch.full((steps, 1), 1.0 / max(steps - 1, 1), device=device)
        step_scale[0] = 1.0
        value_target = scalar_to_support(t["target_values"].T, s)
        value_ce = _soft_ce(value_logits, value_target) * t["value_mask"].T
        if sampled:
            policy_codes = torch.as_tensor(batch.policy_codes).to(device).transpose(0, 1)  # [K+1, B, S, ...]
            policy_ce = sampled_policy_ce(policy_logits, policy_codes, t["target_policies"].transpose(0, 1),
                                          action_dim) * t["policy_mask"].T
        else:
            policy_ce = _soft_ce(policy_logits, t["target_policies"].transpose(0, 1)) * t["policy_mask"].T
        if self.config.policy_entropy_weight > 0:
            entropy = policy_entropy(policy_logits, action_dim) * t["policy_mask"].T
            policy_ce = policy_ce - self.config.policy_entropy_weight * entropy
        value_loss = scale_gradient(value_ce, step_scale).sum(0)
        policy_loss = scale_gradient(policy_ce, step_scale).sum(0)
        if steps > 1:
            rewards = t["target_rewards"][:, 1:]
            if getattr(self.net, "value_prefix", None) is not None:  # the reward head predicts sums
                rewards = value_prefix_targets(rewards, self.net.value_prefix_horizon)
            reward_ce = _soft_ce(reward_logits, scalar_to_support(rewards.T, s)) * t["reward_mask"][:, 1:].T
            reward_loss = scale_gradient(reward_ce, step_scale[1:]).sum(0)
        else:
            reward_loss = torch.zeros_like(value_loss)
        per_sample = policy_loss + self.config.value_loss_weight * value_loss + reward_loss
        prefix = getattr(self.net, "value_prefix", None) is not None
        parts = {"value_loss": value_loss.mean(), "policy_loss": policy_loss.mean(),
                 "value_prefix_loss" if prefix else "reward_loss": reward_loss.mean()}
        if chance and steps > 1:
            per_sample = per_sample + self._chance_terms(extra, t["target_values"], batch.next_obs_mask, step_scale,
                                                         parts)
        if consistency and steps > 1:
            later = torch.as_tensor(batch.next_obs).to(device).transpose(0, 1).flatten(0, 1)  # [K * B, ...]
            similarity = self.net.consistency_loss(latents[0], later).view(steps - 1, -1) \
                * torch.as_tensor(batch.next_obs_mask).to(device).T
            consistency_loss = scale_gradient(similarity, step_scale[1:]).sum(0)
            per_sample = per_sample + self.config.consistency_weight * consistency_loss
            parts["consistency_loss"] = consistency_loss.mean()
        loss = (per_sample * t["weights"]).mean()
        priorities = (support_to_scalar(value_logits[0].detach(), s) - t["target_values"][:, 0]).abs()
        return loss, parts, priorities

    def _chance_terms(self, extra, target_values: torch.Tensor, real: np.ndarray, step_scale: torch.Tensor,
                      parts: dict) -> torch.Tensor:
        """Stochastic MuZero's terms per sample [B] (module docstring); their means go to `parts`."""
        real = torch.as_tensor(real).to(target_values.device).T  # [K, B]: the transition at step k is real
        q_target = scalar_to_support(target_values[:, :-1].T, self.support_size)
        q_ce = _soft_ce(extra.afterstate_value_logits, q_target) * real
        code_ce = _soft_ce(extra.code_logits, extra.codes.detach()) * real
        commit = ((extra.codes.detach() - extra.encoder_probs) ** 2).sum(-1) * real
        scale = step_scale[1:]
        q_loss, chance_loss, commit_loss = (scale_gradient(x, scale).sum(0) for x in (q_ce, code_ce, commit))
        parts.update(afterstate_value_loss=q_loss.mean(), chance_loss=chance_loss.mean(),
                     commitment_loss=commit_loss.mean())
        c = self.config
        return c.value_loss_weight * q_loss + c.chance_loss_weight * chance_loss + c.commitment_weight * commit_loss

    def _mode(self, training: bool) -> None:
        if self._modal:
            self.net.train(training)

    def train_step(self, batch: Batch) -> tuple[dict[str, float], np.ndarray | None]:
        """One update. Returns metrics and new priorities; a non-finite loss or
        gradient skips the update (counted) and returns no priorities."""
        self._mode(True)
        device = next(self.net.parameters()).device
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.config.amp):
            loss, parts, priorities = self.losses(batch)
        loss, priorities = loss.float(), priorities.float()
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            self.skipped_updates += 1
            self.consecutive_skips += 1
            self._mode(False)
            return {"loss": float("nan"), "skipped_updates": self.skipped_updates}, None
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip, foreach=True)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_updates += 1
            self.consecutive_skips += 1
            self._mode(False)
            return {"loss": float(loss), "skipped_updates": self.skipped_updates}, None
        self.optimizer.step()
        self.scheduler.step()
        self.steps += 1
        self.consecutive_skips = 0
        if self.target_net is not None and self.steps % self.config.target_update_interval == 0:
            self.target_net.load_state_dict(self.net.state_dict())
        self._mode(False)
        metrics = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()},
                   "grad_norm": float(grad_norm), "lr": self.scheduler.get_last_lr()[0],
                   "skipped_updates": self.skipped_updates}
        return metrics, priorities.cpu().numpy()
