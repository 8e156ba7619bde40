"""Replay with Sampled MuZero's episodes: each state's sampled codes are stored,
sampled with their policy targets, refreshed by reanalyse without touching the
played actions, and saved and restored with the buffer."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import ReplayConfig
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.replay import Replay

K, D = 3, 2


def sampled_episode(length: int, seed: int, dim: int = D) -> Episode:
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(length + 1, K, dim)).astype(np.float32)
    played = rng.integers(0, K, length)
    return Episode(obs=rng.normal(size=(length + 1, 3)).astype(np.float32),
                   actions=codes[np.arange(length), played],  # the played action's code
                   rewards=rng.normal(size=length).astype(np.float32), to_play=np.zeros(length + 1, np.int8),
                   legal_masks=np.ones((length + 1, 1), bool), root_values=rng.normal(size=length + 1).astype(np.float32),
                   policy_targets=rng.dirichlet(np.ones(K), size=length + 1).astype(np.float32), terminated=True,
                   codes=codes)


def test_codes_are_sampled_with_their_targets_and_refreshed_apart_from_the_played_actions():
    rep = Replay(ReplayConfig(capacity=50, batch_size=4, unroll_steps=2, td_steps=2, prioritized=False), 1, 0.9, K)
    eps = [sampled_episode(6, s) for s in range(3)]
    ids = [rep.add(ep) for ep in eps]
    batch = rep.sample(16, np.random.default_rng(0))
    assert batch.actions.shape == (16, 2, D) and batch.actions.dtype == np.float32
    assert batch.policy_codes.shape == (16, 3, K, D)
    for i in range(16):
        ep = eps[ids.index(int(batch.episode_ids[i]))]
        t = int(batch.starts[i])
        for k in range(3):
            if batch.policy_mask[i, k]:
                np.testing.assert_array_equal(batch.policy_codes[i, k], ep.codes[t + k])
                np.testing.assert_array_equal(batch.target_policies[i, k], ep.policy_targets[t + k])
        for k in range(2):
            if t + k < len(ep):
                np.testing.assert_array_equal(batch.actions[i, k], ep.actions[t + k])
    fresh = np.full((2, K, D), 7.0, np.float32)
    rep.write_search(np.array([ids[1], ids[1]]), np.array([0, 1]), np.full((2, K), 1 / K), np.zeros(2), fresh)
    stored = rep.episode(ids[1])
    np.testing.assert_array_equal(stored.codes[:2], fresh)
    np.testing.assert_array_equal(stored.actions, eps[1].actions)  # what was played stays
    with pytest.raises(ValueError, match="come with their codes"):
        rep.write_search(np.array([ids[1]]), np.array([0]), np.full((1, K), 1 / K), np.zeros(1))

    again = Replay(rep.config, 1, 0.9, K)
    again.load_state_arrays(rep.state_arrays())
    for eid in ids:
        a, b = rep.episode(eid), again.episode(eid)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.actions, b.actions)


def test_episodes_must_match_the_stored_kind():
    rep = Replay(ReplayConfig(capacity=50, batch_size=4, unroll_steps=2, td_steps=2), 1, 0.9, K)
    rep.add(sampled_episode(4, 0))
    with pytest.raises(ValueError, match="sampled-action codes"):
        rep.add(sampled_episode(4, 1, dim=1))
    plain = sampled_episode(4, 2)
    plain.codes = None
    with pytest.raises(ValueError, match="sampled-action codes"):
        rep.add(plain)
