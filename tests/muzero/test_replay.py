"""Replay targets by hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import ReplayConfig
from zeroplan.envs.frames import stack_frames
from zeroplan.muzero.replay import Replay
from tests.helpers import episode


def replay(td=2, unroll=2, discount=0.5, capacity=100, **kw):
    return Replay(ReplayConfig(capacity=capacity, batch_size=4, unroll_steps=unroll, td_steps=td, **kw),
                  num_actions=2, discount=discount)


def test_n_step_values_single_player_terminated():
    # rewards 1, 2, 3, 4; stored values v0..v3 = 10, 20, 30, 40; v4 = 0 (terminated).
    r = replay(td=2, unroll=2, discount=0.5)
    ep = episode([1, 2, 3, 4], [10, 20, 30, 40, 0])
    r.add(ep)
    b = r.batch_for(np.array([0, 2, 3]), np.ones(3, np.float32), np.random.default_rng(0))
    # t=0: z0 = 1 + .5*2 + .25*v2(30) = 9.5; z1 = 2 + .5*3 + .25*40 = 13.5; z2 = 3 + .5*4 + .25*0 = 5
    np.testing.assert_allclose(b.target_values[0], [9.5, 13.5, 5.0])
    # t=2: z2 = 5; z3 = 4 + .5*0 (only one step left, then v4 = 0) = 4; z4 = 0 (terminal)
    np.testing.assert_allclose(b.target_values[1], [5.0, 4.0, 0.0])
    # t=3: z3 = 4, z4 = 0, then absorbing 0 (masked in: value 0 is the truth after a real end)
    np.testing.assert_allclose(b.target_values[2], [4.0, 0.0, 0.0])
    np.testing.assert_array_equal(b.value_mask[2], [1, 1, 1])
    # rewards: column k is rewards[t + k - 1]; past the end 0 (absorbing), column 0 unused
    np.testing.assert_allclose(b.target_rewards[0], [0, 1, 2])
    np.testing.assert_allclose(b.target_rewards[2], [0, 4, 0])
    np.testing.assert_array_equal(b.reward_mask[2], [0, 1, 1])
    # policy only where a search happened (idx < T)
    np.testing.assert_array_equal(b.policy_mask[1], [1, 1, 0])
    np.testing.assert_array_equal(b.policy_mask[2], [1, 0, 0])
    # actions: real ones, then anything (random) past the end
    assert b.actions[0].tolist() == [0, 1]
    assert b.actions[2, 0] == 1
    np.testing.assert_array_equal(b.obs[:, 0], [0, 2, 3])


def test_time_limit_bootstraps_from_the_last_state_and_masks_past_it():
    r = replay(td=3, unroll=2, discount=1.0)
    ep = episode([1, 1], [5, 6, 7], terminated=False)  # cut after 2 steps; value of the last state is 7
    r.add(ep)
    b = r.batch_for(np.array([0, 1]), np.ones(2, np.float32), np.random.default_rng(0))
    # t=0: 1 + 1 + v2(7) = 9; t=1: 1 + 7 = 8; t=2: 7
    np.testing.assert_allclose(b.target_values[0], [9, 8, 7])
    np.testing.assert_array_equal(b.value_mask[1], [1, 1, 0])  # idx 3 does not exist: no target
    np.testing.assert_array_equal(b.reward_mask[1], [0, 1, 0])


def test_two_player_signs():
    # Players alternate; each reward is the mover's. From player 0 at t=0 with
    # discount 1, td 3: u0 (own) - u1 (opponent's) + u2 (own) - v3 (opponent's value).
    r = replay(td=3, unroll=0, discount=1.0)
    ep = episode([0, 0, 1, 0], [0.1, 0.2, 0.3, 0.5, 0], to_play=[0, 1, 0, 1, 0])
    r.add(ep)
    b = r.batch_for(np.array([0, 1, 3]), np.ones(3, np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(b.target_values[:, 0], [0 - 0 + 1 - 0.5, 0 - 1 + 0 + 0.0, 0.0])


def test_fresh_bootstrap_values_from_a_value_fn():
    r = replay(td=1, unroll=1, discount=0.5)
    r.add(episode([1, 1, 1], [0, 0, 0, 0]))
    b = r.batch_for(np.array([0]), np.ones(1, np.float32), np.random.default_rng(0),
                    value_fn=lambda obs, legal: 100.0 * obs[:, 0])  # "network" value of state i = 100 i
    # z0 = 1 + .5*v(1) = 51; z1 = 1 + .5*v(2) = 101
    np.testing.assert_allclose(b.target_values[0], [51, 101])


def test_capacity_bounds_memory_and_drops_old_episodes():
    r = replay(capacity=5)
    for i in range(4):
        r.add(episode([1, 1, 1], [0, 0, 0, 0]))
    assert len(r) == 5
    assert r.num_episodes == 2  # the newest (3 starts) and one start of the one before
    assert r.total_added == 12


def test_episode_longer_than_the_buffer():
    r = replay(capacity=2)
    r.add(episode([1, 1, 1, 1], [0] * 5))
    assert len(r) == 2 and r.num_episodes == 1
    b = r.sample(4, np.random.default_rng(0))
    assert set(b.starts.tolist()) <= {2, 3}


def test_priorities_and_importance_weights():
    r = replay(td=1, unroll=0, discount=1.0, priority_alpha=1.0, priority_beta=1.0)
    r.add(episode([0, 0], [0, 0, 0]), priorities=np.array([1.0, 3.0]))
    counts = np.bincount(r.sample(8000, np.random.default_rng(0)).starts, minlength=2)
    assert abs(counts[1] / counts.sum() - 0.75) < 0.02
    b = r.sample(64, np.random.default_rng(1))
    # w = (N p)^-beta / max: 1/(2 * .25) = 2 for the rare one, 1/(2 * .75) = 2/3 for the other -> 1 and 1/3
    np.testing.assert_allclose(sorted(set(np.round(b.weights, 6))), [1 / 3, 1.0], rtol=1e-5)
    r.update_priorities(np.array([0, 1]), np.array([5.0, 0.0]))
    counts = np.bincount(r.sample(2000, np.random.default_rng(2)).starts, minlength=2)
    assert counts[1] < 10


def test_default_priorities_are_value_errors():
    r = replay(td=1, unroll=0, discount=1.0)
    r.add(episode([1, 2], [0.5, 4.0, 0.0]))
    # z0 = 1 + 4 = 5 -> |0.5 - 5| = 4.5; z1 = 2 + 0 -> |4 - 2| = 2
    np.testing.assert_allclose(r._priority[:2], [4.5, 2.0], atol=1e-5)


def test_stack_frames_repeats_the_first_observation():
    obs = np.arange(4, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(stack_frames(obs, 0, 3), [0, 0, 0])
    np.testing.assert_array_equal(stack_frames(obs, 2, 3), [0, 1, 2])


def test_sampling_an_empty_buffer_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        replay().sample(1, np.random.default_rng(0))


@pytest.mark.parametrize("corrupt, message", [
    (lambda a: a["ring_episode"].__setitem__(1, -1), "ring slot 1 is empty"),
    (lambda a: a["counters"].__setitem__(1, 10_000), "out of range"),
    (lambda a: a["counters"].__setitem__(2, 0), "next episode id"),
])
def test_inconsistent_saved_buffers_are_refused(corrupt, message):
    r = replay(capacity=8)
    for _ in range(3):
        r.add(episode([1, 1, 1], [0, 0, 0, 0]))
    arrays = {k: v.copy() for k, v in r.state_arrays().items()}
    corrupt(arrays)
    with pytest.raises(ValueError, match=message):
        replay(capacity=8).load_state_arrays(arrays)
