"""Reanalyse: everything that recomputes a batch's targets with a newer
network than the one that played, as one stage between replay and learner.

- Bootstrap values (`train.target_update_interval` > 0): the n-step value
  targets bootstrap from the target network's value of the later state
  (`train.bootstrap: value`), or from its one-step lookahead through the model
  (`max_q`), instead of the stored search value.
- Re-searched policies (MuZero Reanalyze, Schrittwieser et al. 2021): a
  fraction (`train.reanalyse_fraction`) of each batch's rows gets fresh policy
  targets from a search without exploration noise at every unrolled state; the
  fresh policies and root values are written back into replay
  (`Replay.write_search`), so later bootstraps and samples see them too.
  With `train.value_target` 'search' those rows' value targets become the
  fresh searches' root values (EfficientZero V2's search-based value
  estimate); with 'mixed', only for samples older than
  `train.mixed_value_age` transitions, whose n-step returns were played by a
  much older policy.
- The observations at the unrolled steps, when the temporal consistency loss
  is on (`train.consistency_weight` > 0; EfficientZero) or the chance encoder
  needs them (`net.chance_codes`; Stochastic MuZero).
- Then random board symmetries (`replay.augment_symmetries`), last, so that
  refreshed targets are transformed too.

`Reanalyze.batch` hands the learner a finished batch, the same on both backends.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from zeroplan.config import Config
from zeroplan.envs.spec import Symmetry
from zeroplan.mcts.model import Model, plan
from zeroplan.muzero.replay import Batch, Replay, augment
from zeroplan.nets.support import support_to_scalar


def network_values(net: torch.nn.Module, obs: np.ndarray, support_size: int) -> np.ndarray:
    """Scalar values of observations under `net` (e.g. a target network's, for bootstrapping)."""
    with torch.inference_mode():
        out = net.initial_inference(torch.as_tensor(obs))
        return support_to_scalar(out.value_logits, support_size).double().cpu().numpy()


def lookahead_values(net: torch.nn.Module, obs: np.ndarray, legal: np.ndarray, support_size: int, discount: float,
                     num_players: int) -> np.ndarray:
    """max over legal a of r(s, a) + discount * v(s'), through `net`'s own model
    (one step of the search's backup; v(s') is the next player's, so negated
    when two players alternate). A state that lists no legal action (e.g. the
    last of an episode cut by a time limit, in an env with a mask) takes the
    max over all of them rather than -inf."""
    n, a = legal.shape
    legal = legal | ~legal.any(axis=1, keepdims=True)
    with torch.inference_mode():
        latent = net.initial_inference(torch.as_tensor(obs)).latent
        if getattr(net, "chance", None) is not None:  # Stochastic MuZero: Q(s, a) is the afterstate's value
            actions = torch.arange(a, device=latent.device).repeat(n)
            _, q_logits, _ = net.afterstate_inference(latent.repeat_interleave(a, dim=0), actions)
            q = support_to_scalar(q_logits, support_size).double().view(n, a).cpu().numpy()
            return np.where(legal, q, -np.inf).max(axis=1)
        nxt = net.recurrent_inference(latent.repeat_interleave(a, dim=0),
                                      torch.arange(a, device=latent.device).repeat(n))
        reward = support_to_scalar(nxt.reward_logits, support_size).double()
        value = support_to_scalar(nxt.value_logits, support_size).double()
        q = (reward + discount * (value if num_players == 1 else -value)).view(n, a).cpu().numpy()
    return np.where(legal, q, -np.inf).max(axis=1)


def bootstrap_fn(net: torch.nn.Module, config: Config, num_players: int):
    """The replay's `value_fn(obs, legal)` for `train.bootstrap`, through `net` (the target network)."""
    s = config.net.support_size
    if config.train.bootstrap == "max_q":
        return lambda obs, legal: lookahead_values(net, obs, legal, s, config.search.discount, num_players)
    return lambda obs, legal: network_values(net, obs, s)


class Reanalyze:
    def __init__(self, config: Config, num_players: int, seed: int, target_net: torch.nn.Module | None = None):
        self.config = config
        self.num_players = num_players
        # Bootstraps through the target network, whose weights its owner updates in place.
        self.value_fn = bootstrap_fn(target_net, config, num_players) if target_net is not None else None
        self.rng = np.random.default_rng(seed)
        self.searches = config.train.reanalyse_fraction > 0  # re-searched policies are on
        # Targets from sampled searches draw every sample from the policy (no mode slot, mcts.sampled).
        self.search_config = config.search.model_copy(update={"sample_mode": False})

    def batch(self, replay: Replay, batch_size: int, rng: np.random.Generator, model: Model | None = None,
              symmetries: Sequence[Symmetry] = ()) -> Batch:
        """One learner batch: sampled with `rng` (bootstrapping through the target
        network, if any), re-searched with `model`, then seen through random symmetries."""
        batch = replay.sample(batch_size, rng, self.value_fn)
        if self.searches:
            self.refresh(batch, replay, model)
        if self.config.train.consistency_weight > 0 or self.config.net.chance_codes:
            batch.next_obs, batch.next_obs_mask = replay.future_obs(batch.episode_ids, batch.starts,
                                                                    batch.actions.shape[1])
        augment(batch, list(symmetries), rng)
        return batch

    def refresh(self, batch: Batch, replay: Replay, model: Model) -> int:
        """Re-search a fraction of the batch's rows, in the batch and in replay;
        returns the number of states searched."""
        rows = np.flatnonzero(self.rng.random(len(batch.starts)) < self.config.train.reanalyse_fraction)
        where, eids, steps = [], [], []
        for i in rows:
            eid = int(batch.episode_ids[i])
            if not replay.has_episode(eid):
                continue
            for k in np.flatnonzero(batch.policy_mask[i] > 0):
                where.append((i, k))
                eids.append(eid)
                steps.append(int(batch.starts[i] + k))
        if not where:
            return 0
        obs, legal, to_play = replay.search_inputs(np.asarray(eids), np.asarray(steps))
        out = plan(model, obs, legal, to_play, self.search_config, self.rng, self.num_players, temperature=0.0,
                   explore=False)
        target = self.config.train.value_target
        old = replay.ages(batch.episode_ids[[i for i, _ in where]]) > self.config.train.mixed_value_age \
            if target == "mixed" else None
        for j, (i, k) in enumerate(where):
            batch.target_policies[i, k] = out.policy_targets[j]
            if out.codes is not None:  # a sampled search's fresh targets are over its fresh samples
                batch.policy_codes[i, k] = out.codes[j]
            if target == "search" or (old is not None and old[j]):
                batch.target_values[i, k] = out.root_values[j]
        replay.write_search(np.asarray(eids), np.asarray(steps), out.policy_targets, out.root_values, out.codes)
        return len(where)
