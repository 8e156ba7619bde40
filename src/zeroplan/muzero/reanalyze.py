"""Reanalyse (MuZero Reanalyze, Schrittwieser et al. 2021): recompute policy
targets of old data by searching again with the latest network.

A configurable fraction of each training batch has its policy targets replaced
by a fresh search (no exploration noise) at every unrolled state; the fresh
root values and policies are also written back into the stored episode, so
later bootstraps and samples see them too. Fresh bootstrap values for the
value targets come from the learner's target network (see Replay.sample).
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import Config
from zeroplan.muzero.replay import Batch, Replay
from zeroplan.muzero.selfplay import Model, plan


class Reanalyze:
    def __init__(self, config: Config, num_players: int, seed: int):
        self.config = config
        self.num_players = num_players
        self.rng = np.random.default_rng(seed)
        self.positions_searched = 0

    def refresh(self, batch: Batch, replay: Replay, model: Model) -> int:
        """Re-search a fraction of the batch's rows in place; returns the number of states searched."""
        fraction = self.config.train.reanalyse_fraction
        rows = np.flatnonzero(self.rng.random(len(batch.starts)) < fraction)
        where, obs, legal, to_play, episodes = [], [], [], [], []
        for i in rows:
            ep = replay.episode(batch.episode_ids[i])
            if ep is None:
                continue
            for k in np.flatnonzero(batch.policy_mask[i] > 0):
                t = int(batch.starts[i] + k)
                where.append((i, k, t))
                episodes.append(ep)
                obs.append(replay.stacked_obs(ep, t))
                legal.append(ep.legal_masks[t])
                to_play.append(ep.to_play[t])
        if not where:
            return 0
        out = plan(model, np.stack(obs), np.stack(legal), np.asarray(to_play), self.config, self.rng,
                   self.num_players, temperature=0.0, explore=False)
        for j, ((i, k, t), ep) in enumerate(zip(where, episodes)):
            batch.target_policies[i, k] = out.policy_targets[j]
            ep.policy_targets[t] = out.policy_targets[j]
            ep.root_values[t] = out.root_values[j]
        self.positions_searched += len(where)
        return len(where)
