"""The MuZero loss written step by step, as in the paper's pseudocode: one
recurrent_inference per unroll step, each step's losses scaled by 1/K in the
gradient, the dynamics input's gradient halved. The learner's batched loss is
checked against this (values and gradients)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zeroplan.nets.muzero_net import scale_gradient
from zeroplan.nets.support import scalar_to_support, support_to_scalar


def _soft_ce(logits, target):
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def _policy_term(net, logits, batch, t, k: int, entropy_weight: float):
    """The policy loss of unroll step k: cross-entropy over all actions, or with a
    sampled search (batch.policy_codes) -sum_j target_j log pi(a_j) over each
    state's samples, one sample at a time (torch.distributions for a Gaussian);
    minus `entropy_weight` times the policy's entropy."""
    from zeroplan.mcts.sampled import LOG_STD_MAX, LOG_STD_MIN

    target = t["target_policies"][:, k]
    dim = getattr(net, "action_dim", 0)
    if batch.policy_codes is None:
        term = _soft_ce(logits, target)
        dist = torch.distributions.Categorical(logits=logits)
    else:
        codes = torch.as_tensor(batch.policy_codes[:, k])
        if dim:
            dist = torch.distributions.Independent(torch.distributions.Normal(
                logits[:, :dim], logits[:, dim:].clamp(LOG_STD_MIN, LOG_STD_MAX).exp()), 1)
        else:
            dist = torch.distributions.Categorical(logits=logits)
        term = 0.0
        for j in range(codes.shape[1]):
            term = term - target[:, j] * dist.log_prob(codes[:, j])
    if entropy_weight:
        term = term - entropy_weight * dist.entropy()
    return term * t["policy_mask"][:, k]


def _chance_step(net, latent, action, batch, t, k: int, s: int):
    """Stochastic MuZero's step k (1-based): the afterstate of the action, the
    encoder's code from the observations before and after it, the next state;
    and that step's afterstate value, code and commitment terms (masked where
    the transition is not real)."""
    after, q_logits, code_logits = net.afterstate_inference(latent, action)
    before = t["obs"] if k == 1 else torch.as_tensor(batch.next_obs[:, k - 2])
    code, probs = net.chance.encode(before, torch.as_tensor(batch.next_obs[:, k - 1]))
    real = torch.as_tensor(batch.next_obs_mask[:, k - 1])
    q = _soft_ce(q_logits, scalar_to_support(t["target_values"][:, k - 1], s)) * real
    c = -(code.detach() * F.log_softmax(code_logits, dim=-1)).sum(-1) * real
    commit = ((code.detach() - probs) ** 2).sum(-1) * real
    return net.chance_inference(after, code), (q, c, commit)


def reference_loss(net, batch, support_size: int, unroll_steps: int, value_loss_weight: float,
                   consistency_weight: float = 0.0, entropy_weight: float = 0.0, chance_weights=(1.0, 0.25)):
    """With a value prefix, the reward head's LSTM is stepped here with its state
    carried by hand (reset before steps 1, H + 1, ...) against running reward
    sums; with `consistency_weight`, each step adds the negative cosine between
    the predicted projection of its latent and the projection of the real
    observation there (computed without gradient). A network with chance codes
    steps through `_chance_step`; `chance_weights` are (chance, commitment)."""
    t = {k: torch.as_tensor(getattr(batch, k)) for k in (
        "obs", "actions", "target_values", "target_rewards", "target_policies", "value_mask", "reward_mask",
        "policy_mask", "weights")}
    s = support_size
    out = net.initial_inference(t["obs"])
    value0 = support_to_scalar(out.value_logits.detach(), s)
    value_loss = _soft_ce(out.value_logits, scalar_to_support(t["target_values"][:, 0], s)) * t["value_mask"][:, 0]
    policy_loss = _policy_term(net, out.policy_logits, batch, t, 0, entropy_weight)
    reward_loss = torch.zeros_like(value_loss)
    consistency = torch.zeros_like(value_loss)
    latent = out.latent
    state, running = None, None
    chance_terms = [torch.zeros_like(value_loss) for _ in range(3)]
    for k in range(1, unroll_steps + 1):
        action = t["actions"][:, k - 1]
        if getattr(net, "chance", None) is not None:
            step, terms = _chance_step(net, latent, action, batch, t, k, s)
            chance_terms = [a + scale_gradient(b, 1.0 / unroll_steps) for a, b in zip(chance_terms, terms)]
        else:
            step = net.recurrent_inference(latent, torch.tanh(action) if getattr(net, "action_dim", 0) else action)
        v = _soft_ce(step.value_logits, scalar_to_support(t["target_values"][:, k], s)) * t["value_mask"][:, k]
        p = _policy_term(net, step.policy_logits, batch, t, k, entropy_weight)
        if net.value_prefix is None:
            reward_logits, reward_target = step.reward_logits, t["target_rewards"][:, k]
        else:
            if (k - 1) % net.value_prefix_horizon == 0:
                state, running = None, torch.zeros_like(t["target_rewards"][:, k])
            running = running + t["target_rewards"][:, k]
            reward_logits, state = net.value_prefix(step.latent, state)
            reward_target = running
        r = _soft_ce(reward_logits, scalar_to_support(reward_target, s)) * t["reward_mask"][:, k]
        value_loss = value_loss + scale_gradient(v, 1.0 / unroll_steps)
        policy_loss = policy_loss + scale_gradient(p, 1.0 / unroll_steps)
        reward_loss = reward_loss + scale_gradient(r, 1.0 / unroll_steps)
        if consistency_weight:
            later = torch.as_tensor(batch.next_obs[:, k - 1])
            with torch.no_grad():
                target = net.consistency.project(net.initial_inference(later).latent.flatten(1))
            online = net.consistency.predict(net.consistency.project(step.latent.flatten(1)))
            c = -F.cosine_similarity(online, target, dim=-1) * torch.as_tensor(batch.next_obs_mask[:, k - 1])
            consistency = consistency + scale_gradient(c, 1.0 / unroll_steps)
        latent = scale_gradient(step.latent, 0.5)
    per_sample = policy_loss + value_loss_weight * value_loss + reward_loss + consistency_weight * consistency
    reward_name = "reward_loss" if net.value_prefix is None else "value_prefix_loss"
    parts = {"value_loss": value_loss.mean(), "policy_loss": policy_loss.mean(), reward_name: reward_loss.mean()}
    if getattr(net, "chance", None) is not None:
        q, c, commit = chance_terms
        per_sample = per_sample + value_loss_weight * q + chance_weights[0] * c + chance_weights[1] * commit
        parts.update(afterstate_value_loss=q.mean(), chance_loss=c.mean(), commitment_loss=commit.mean())
    loss = (per_sample * t["weights"]).mean()
    if consistency_weight:
        parts["consistency_loss"] = consistency.mean()
    return loss, parts, (value0 - t["target_values"][:, 0]).abs()
