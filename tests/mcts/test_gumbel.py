"""Gumbel MuZero: policy improvement with a handful of simulations."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search
from zeroplan.mcts.gumbel import considered_visits


def test_schedule_by_hand():
    # m=4, S=8: log2(4)=2; phase k=4 gives 8 // (2*4) = 1 visit each -> 0,0,0,0;
    # then k=2 gives 8 // (2*2) = 2 visits each -> 1,1, 2,2 (cut at 8 entries).
    assert considered_visits(4, 8) == (0, 0, 0, 0, 1, 1, 2, 2)
    # m=2, S=5: log2(2)=1; k=2 gives 5 // 2 = 2 visits each -> 0,0,1,1; again -> 2 (cut).
    assert considered_visits(2, 5) == (0, 0, 1, 1, 2)
    assert considered_visits(1, 3) == (0, 1, 2)
    # m=3, S=2: fewer simulations than actions: only the top two are visited.
    assert considered_visits(3, 2) == (0, 0)


def bandit(arm_means: np.ndarray):
    """One decision: action a pays arm_means[a]; nothing follows."""

    def recurrent_fn(emb, actions):
        n = len(actions)
        return emb, arm_means[actions], np.zeros(n), np.zeros((n, len(arm_means)))

    return recurrent_fn


@pytest.mark.parametrize("sims", [2, 4, 8, 16])
def test_improved_policy_moves_mass_to_the_best_arm(sims):
    rng = np.random.default_rng(sims)
    num_arms, batch = 8, 2000
    arm_means = rng.uniform(0, 1, size=num_arms)
    best = int(arm_means.argmax())
    logits = np.tile(rng.normal(0, 1, size=num_arms), (batch, 1))
    prior = np.exp(logits[0]) / np.exp(logits[0]).sum()
    root = SearchRoot(np.zeros((batch, 1)), logits, np.zeros(batch), np.ones((batch, num_arms), bool),
                      np.zeros(batch, dtype=int))
    out = search(root, bandit(arm_means), rng, SearchConfig(policy="gumbel", num_simulations=sims),
                 explore=True)
    improved = out.policy_targets.mean(axis=0)
    assert improved[best] > prior[best]
    # The expected value of acting by the improved policy beats the prior's.
    assert improved @ arm_means > prior @ arm_means
    # ... and so does the action the search chose (in expectation over the noise).
    assert arm_means[out.actions].mean() > prior @ arm_means


def test_illegal_actions_never_chosen_or_targeted():
    rng = np.random.default_rng(3)
    batch, num_actions = 200, 6
    legal = rng.random((batch, num_actions)) < 0.5
    legal[np.arange(batch), rng.integers(0, num_actions, batch)] = True
    root = SearchRoot(np.zeros((batch, 1)), rng.normal(size=(batch, num_actions)), np.zeros(batch), legal,
                      np.zeros(batch, dtype=int))
    out = search(root, bandit(rng.uniform(size=num_actions)), rng, SearchConfig(policy="gumbel",
                 num_simulations=8))
    assert legal[np.arange(batch), out.actions].all()
    assert (out.policy_targets[~legal] == 0).all()
    assert (out.visit_counts[~legal] == 0).all()
    np.testing.assert_allclose(out.policy_targets.sum(axis=1), 1.0)


def test_min_value_span_keeps_tiny_q_differences_tiny():
    """Four arms paying 0, 0.001, 0, 0 from a uniform prior: plain min-max turns
    the 0.001 into the whole value range and the target piles onto arm 1; a span
    floor of 0.1 leaves it close to the prior, by exactly the sigma formula."""
    arm_means = np.array([0.0, 0.001, 0.0, 0.0])
    root = SearchRoot(np.zeros((1, 1), np.float32), np.zeros((1, 4)), np.zeros(1), np.ones((1, 4), bool),
                      np.zeros(1, np.int64))
    targets = {}
    for span in (0.0, 0.1):
        cfg = SearchConfig(policy="gumbel", num_simulations=4, discount=1.0, min_value_span=span)
        targets[span] = search(root, bandit(arm_means), np.random.default_rng(0), cfg, explore=False).policy_targets[0]
    scale = (50.0 + 1) * 0.1  # (c_visit + max visits) * c_scale, every arm visited once
    for span, target in targets.items():
        logits = scale * (arm_means - 0.0) / max(0.001, span)
        np.testing.assert_allclose(target, np.exp(logits) / np.exp(logits).sum(), rtol=1e-9)
    assert targets[0.0][1] > 0.98 and targets[0.1][1] < 0.3


def test_temperature_scales_the_noise_per_root():
    """T = 0 rows are the noiseless search; T = 1 rows are the search with the
    same draws of noise handed in; the rng is consumed the same either way."""
    rng = np.random.default_rng(5)
    batch, num_actions = 64, 5
    arm_means = rng.uniform(size=num_actions)
    logits = rng.normal(size=(batch, num_actions))
    root = SearchRoot(np.zeros((batch, 1)), logits, np.zeros(batch), np.ones((batch, num_actions), bool),
                      np.zeros(batch, dtype=int))
    cfg = SearchConfig(policy="gumbel", num_simulations=4, gumbel_scale=1.0)
    temps = np.where(np.arange(batch) % 2 == 0, 0.0, 1.0)
    mixed = search(root, bandit(arm_means), np.random.default_rng(9), cfg, temperature=temps)
    noise = np.random.default_rng(9).gumbel(size=(batch, num_actions))
    given = search(root, bandit(arm_means), rng, cfg, gumbel=noise)
    greedy = search(root, bandit(arm_means), rng, cfg, explore=False)
    even, odd = temps == 0, temps == 1
    np.testing.assert_array_equal(mixed.actions[even], greedy.actions[even])
    np.testing.assert_array_equal(mixed.actions[odd], given.actions[odd])
    np.testing.assert_allclose(mixed.policy_targets[even], greedy.policy_targets[even])
    np.testing.assert_allclose(mixed.policy_targets[odd], given.policy_targets[odd])
    assert (mixed.actions[odd] != greedy.actions[odd]).any()  # the noise did act where T = 1


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_one_simulation_samples_the_prior_at_temperature(temperature):
    """With one simulation the choice is the argmax of T * g + log prior: a sample
    from softmax(logits / T)."""
    rng = np.random.default_rng(11)
    batch = 40_000
    base = np.array([1.0, 0.0, -0.5, 0.5])
    root = SearchRoot(np.zeros((batch, 1)), np.tile(base, (batch, 1)), np.zeros(batch),
                      np.ones((batch, 4), bool), np.zeros(batch, dtype=int))
    out = search(root, bandit(np.zeros(4)), rng, SearchConfig(policy="gumbel", num_simulations=1),
                 temperature=temperature)
    expected = np.exp(base / temperature) / np.exp(base / temperature).sum()
    freq = np.bincount(out.actions, minlength=4) / batch
    np.testing.assert_allclose(freq, expected, atol=0.01)


def test_negative_temperature_is_refused():
    root = SearchRoot(np.zeros((2, 1)), np.zeros((2, 3)), np.zeros(2), np.ones((2, 3), bool), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="temperature"):
        search(root, bandit(np.zeros(3)), np.random.default_rng(0), SearchConfig(policy="gumbel", num_simulations=2),
               temperature=-1.0)
