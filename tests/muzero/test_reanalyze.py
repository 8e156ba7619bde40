"""Reanalyse replaces policy targets with a fresh search and writes them back."""

from __future__ import annotations

import numpy as np

from tests.helpers import episode
from zeroplan.config import load_config
from zeroplan.muzero.reanalyze import Reanalyze
from zeroplan.muzero.replay import Replay


class FavoursAction1:
    """A model whose prior and rewards both prefer action 1."""

    def initial(self, obs):
        n = len(obs)
        return np.zeros((n, 1), np.float32), np.zeros(n), np.tile([0.0, 2.0], (n, 1))

    def recurrent_fn(self, latent, actions):
        n = len(actions)
        return latent, (actions == 1).astype(float), np.zeros(n), np.tile([0.0, 2.0], (n, 1))


def test_fraction_one_refreshes_every_searched_state_and_writes_back():
    config = load_config(None, dotted=["train.reanalyse_fraction=1.0", "search.num_simulations=8",
                                       "replay.unroll_steps=2", "replay.td_steps=2"])
    replay = Replay(config.replay, num_actions=2, discount=0.9)
    ep = episode([1, 2, 3, 4], [0, 0, 0, 0, 0])  # stored policy targets are [0.25, 0.75]
    eid = replay.add(ep)
    batch = replay.batch_for(np.array([0, 3]), np.ones(2, np.float32), np.random.default_rng(0))
    searched = Reanalyze(config, num_players=1, seed=0).refresh(batch, replay, FavoursAction1())
    assert searched == 3 + 1  # t=0: states 0, 1, 2; t=3: state 3 (state 4 is the end: no policy)
    fresh = batch.target_policies[batch.policy_mask > 0]
    assert (fresh[:, 1] > 0.9).all()
    stored = replay.episode(eid)  # the buffer keeps its own copy of the episode
    np.testing.assert_array_equal(stored.policy_targets[:4], fresh[[0, 1, 2, 3]])
    assert (stored.root_values[:4] > 0.5).all()  # the fresh searches' values were stored
    np.testing.assert_array_equal(batch.target_policies[1, 1:], np.full((2, 2), 0.5))  # masked: untouched


def test_fraction_zero_changes_nothing():
    config = load_config(None, dotted=["train.reanalyse_fraction=0.0"])
    replay = Replay(config.replay, num_actions=2, discount=0.9)
    replay.add(episode([1, 2, 3], [0, 0, 0, 0]))
    batch = replay.batch_for(np.array([0]), np.ones(1, np.float32), np.random.default_rng(0))
    before = batch.target_policies.copy()
    assert Reanalyze(config, 1, 0).refresh(batch, replay, FavoursAction1()) == 0
    np.testing.assert_array_equal(batch.target_policies, before)


def _refreshed(value_target: str, ages: tuple[int, int], mixed_age: int = 5):
    """Two episodes of given ages (transitions added after each), both sampled
    from t=0 and fully re-searched; returns (batch before, batch after, replay)."""
    config = load_config(None, dotted=["train.reanalyse_fraction=1.0", "search.num_simulations=8",
                                       "replay.unroll_steps=2", "replay.td_steps=2",
                                       f"train.value_target={value_target}",
                                       f"train.mixed_value_age={mixed_age}"])
    replay = Replay(config.replay, num_actions=2, discount=0.9)
    old = replay.add(episode([1, 2, 3, 4], [0, 0, 0, 0, 0]))
    replay.add(episode([0] * ages[0], [0] * (ages[0] + 1)))
    new = replay.add(episode([1, 2, 3, 4], [0, 0, 0, 0, 0]))
    assert replay.ages(np.array([old, new])).tolist() == [ages[0] + 4, 0]
    slots = np.array([0, ages[0] + 4])  # t=0 of each
    before = replay.batch_for(slots, np.ones(2, np.float32), np.random.default_rng(0))
    after = replay.batch_for(slots, np.ones(2, np.float32), np.random.default_rng(0))
    Reanalyze(config, num_players=1, seed=0).refresh(after, replay, FavoursAction1())
    return before, after, replay, (old, new)


def test_search_value_targets_are_the_fresh_root_values():
    before, after, replay, (old, new) = _refreshed("search", (3, 0))
    for i, eid in enumerate((old, new)):
        roots = replay.episode(eid).root_values  # the fresh searches' values, written back
        np.testing.assert_array_equal(after.target_values[i], roots[:3])
        assert not np.allclose(after.target_values[i], before.target_values[i])


def test_mixed_value_targets_replace_only_old_samples():
    before, after, replay, (old, new) = _refreshed("mixed", (3, 0), mixed_age=5)  # old is 7 old, new 0
    np.testing.assert_array_equal(after.target_values[0], replay.episode(old).root_values[:3])
    np.testing.assert_array_equal(after.target_values[1], before.target_values[1])  # the n-step return stays
    _, after, _, _ = _refreshed("mixed", (3, 0), mixed_age=7)  # 7 is not older than 7
    np.testing.assert_array_equal(after.target_values, before.target_values)


def test_search_value_targets_need_reanalyse():
    import pytest

    from zeroplan.config import ConfigError

    with pytest.raises(ConfigError, match="takes values from reanalyse's searches"):
        load_config(None, dotted=["train.value_target=mixed"])
