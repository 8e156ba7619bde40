"""The replay buffer's vectorised targets against the per-sample reference
(tests/reference/replay_targets.py), on random episodes: one and two players,
terminated and cut by a time limit, frame stacking, fresh bootstrap values,
and a buffer small enough that episodes are evicted and its storage compacted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.replay_targets import age_horizon, reference_targets
from zeroplan.config import ReplayConfig
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.replay import Replay

A = 3


def random_episode(rng: np.random.Generator, length: int, two_player: bool) -> Episode:
    to_play = (np.arange(length + 1) % 2 if two_player else np.zeros(length + 1)).astype(np.int8)
    policies = rng.random((length + 1, A)).astype(np.float32)
    return Episode(obs=rng.normal(size=(length + 1, 2, 3)).astype(np.float32),
                   actions=rng.integers(0, A, length), rewards=rng.normal(size=length).astype(np.float32),
                   to_play=to_play, legal_masks=rng.random((length + 1, A)) < 0.8,
                   root_values=rng.normal(size=length + 1).astype(np.float32),
                   policy_targets=policies / policies.sum(1, keepdims=True),
                   terminated=bool(rng.random() < 0.6))


def value_fn(obs: np.ndarray, legal: np.ndarray) -> np.ndarray:
    # A deterministic function of the stacked observation and of the legal
    # actions (so a mask from the wrong row shows).
    return obs.reshape(len(obs), -1).sum(1) * 0.1 + legal @ np.array([0.01, 0.02, 0.04])


def check_against_reference(replay: Replay, stored: dict[int, Episode], fresh: bool,
                            added_at: dict[int, int] | None = None) -> None:
    """`added_at`: transitions added before each episode (its age's origin), by id."""
    cfg = replay.config
    slots = np.arange(len(replay))
    b = replay.batch_for(slots, np.ones(len(slots), np.float32), np.random.default_rng(0),
                         value_fn if fresh else None)
    total = sum(len(e) for e in stored.values())
    for i, slot in enumerate(slots):
        eid = int(b.episode_ids[i])
        ep = stored[eid]
        td = age_horizon(cfg.td_steps, cfg.td_shrink_every, total - added_at[eid]) if added_at else cfg.td_steps
        ref = reference_targets(ep, int(b.starts[i]), cfg.unroll_steps, replay.discount, td,
                                cfg.stack_frames, A, value_fn if fresh else None)
        np.testing.assert_array_equal(b.obs[i], ref["obs"])
        np.testing.assert_allclose(b.target_values[i], ref["values"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(b.target_rewards[i], ref["rewards"].astype(np.float32))
        np.testing.assert_array_equal(b.target_policies[i], ref["policies"].astype(np.float32))
        for name in ("value_mask", "reward_mask", "policy_mask"):
            np.testing.assert_array_equal(getattr(b, name)[i], ref[name], err_msg=name)
        real = ref["actions"] >= 0
        np.testing.assert_array_equal(b.actions[i][real], ref["actions"][real])
        assert ((b.actions[i] >= 0) & (b.actions[i] < A)).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), capacity=st.integers(1, 60), td=st.integers(0, 6), unroll=st.integers(0, 4),
       frames=st.integers(1, 3), discount=st.sampled_from([1.0, 0.9, 0.5]), two_player=st.booleans(),
       fresh=st.booleans(), shrink=st.sampled_from([0, 0, 1, 7, 30]))
def test_batches_match_the_reference(seed, capacity, td, unroll, frames, discount, two_player, fresh, shrink):
    rng = np.random.default_rng(seed)
    replay = Replay(ReplayConfig(capacity=capacity, batch_size=4, unroll_steps=unroll, td_steps=td,
                                 stack_frames=frames, td_shrink_every=shrink), num_actions=A, discount=discount)
    stored: dict[int, Episode] = {}
    added_at: dict[int, int] = {}
    total = 0
    for _ in range(int(rng.integers(1, 30))):
        ep = random_episode(rng, int(rng.integers(1, 25)), two_player)
        eid = replay.add(ep)
        total += len(ep)
        stored[eid], added_at[eid] = ep, total  # an episode's age counts from when it entered, whole
        check_against_reference(replay, stored, fresh, added_at)
    # Every episode the ring still points at is stored, and no other.
    live = set(replay._episode_of[replay._episode_of >= 0].tolist())
    assert live == {i for i in stored if replay.episode(i) is not None}
    # Resuming keeps exactly the same batches.
    copy = Replay(replay.config, A, discount)
    copy.load_state_arrays(replay.state_arrays())
    check_against_reference(copy, stored, fresh, added_at)


def test_storage_is_reclaimed_and_episodes_read_back_after_compaction():
    rng = np.random.default_rng(1)
    replay = Replay(ReplayConfig(capacity=200, batch_size=4, unroll_steps=3, td_steps=4), num_actions=A,
                    discount=0.9)
    stored = {}
    for _ in range(600):  # ~6,000 transitions through a 200-transition buffer
        ep = random_episode(rng, int(rng.integers(1, 20)), two_player=False)
        stored[replay.add(ep)] = ep
    assert len(replay._store.obs) <= 4096  # rows of dropped episodes were reused, not appended forever
    for eid, ep in stored.items():
        back = replay.episode(eid)
        if back is None:
            continue
        for name in ("obs", "actions", "rewards", "to_play", "legal_masks", "root_values", "policy_targets"):
            np.testing.assert_array_equal(getattr(back, name), getattr(ep, name), err_msg=name)
        assert back.terminated == ep.terminated
    check_against_reference(replay, stored, fresh=True)


def test_writes_through_an_episode_view_reach_the_targets():
    """Reanalyse writes fresh root values into the stored episode; later bootstraps use them."""
    replay = Replay(ReplayConfig(capacity=50, batch_size=4, unroll_steps=0, td_steps=1), num_actions=A, discount=1.0)
    ep = random_episode(np.random.default_rng(2), 5, two_player=False)
    ep.rewards[:] = 0.0
    eid = replay.add(ep)
    replay.episode(eid).root_values[1] = 42.0
    b = replay.batch_for(np.array([0]), np.ones(1, np.float32), np.random.default_rng(0))
    assert b.target_values[0, 0] == 42.0  # z0 = r0 + v1 = 0 + 42


def test_a_rejected_episode_leaves_the_buffer_as_it_was():
    """An episode with the wrong number of actions is refused with a message
    naming the field, also when the store had to make room first, and later
    batches still match the reference."""
    rng = np.random.default_rng(3)
    replay = Replay(ReplayConfig(capacity=600, batch_size=4, unroll_steps=3, td_steps=3), num_actions=A,
                    discount=0.9)
    stored = {}
    rejected = 0
    for i in range(400):
        ep = random_episode(rng, 10, two_player=False)
        if i % 37 == 36:  # now and then, while the store fills, compacts and grows
            ep.policy_targets = np.ones((11, A + 1), np.float32)
            with pytest.raises(ValueError, match="policy_targets"):
                replay.add(ep)
            rejected += 1
            continue
        stored[replay.add(ep)] = ep
    assert rejected == 10 and replay._store.moves > 0
    check_against_reference(replay, stored, fresh=True)
