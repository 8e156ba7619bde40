"""The search's contract: shapes, legality, noise, temperature, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search
from zeroplan.mcts.puct import visit_count_actions


def random_model(num_actions: int, latent: int = 4, seed: int = 0):
    w = np.random.default_rng(seed).normal(size=(latent + num_actions, latent + 2 + num_actions))

    def recurrent_fn(emb, actions):
        x = np.concatenate([emb, np.eye(num_actions)[actions]], axis=1) @ w
        return np.tanh(x[:, :latent]), np.tanh(x[:, latent]), np.tanh(x[:, latent + 1]), x[:, latent + 2:]

    return recurrent_fn


def random_root(batch, num_actions, rng, latent=4, legal_p=0.6, players=1):
    legal = rng.random((batch, num_actions)) < legal_p
    legal[np.arange(batch), rng.integers(0, num_actions, batch)] = True
    return SearchRoot(rng.normal(size=(batch, latent)).astype(np.float32), rng.normal(size=(batch, num_actions)),
                      rng.uniform(-1, 1, batch), legal, rng.integers(0, players, batch))


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
@pytest.mark.parametrize("players", [1, 2])
def test_outputs_are_consistent(policy, players):
    rng = np.random.default_rng(0)
    root = random_root(32, 7, rng, players=players)
    cfg = SearchConfig(policy=policy, num_simulations=25)
    out = search(root, random_model(7), rng, cfg, num_players=players)
    assert out.actions.shape == (32,) and out.visit_counts.shape == (32, 7)
    assert (out.visit_counts.sum(axis=1) == 25).all()
    assert root.legal_mask[np.arange(32), out.actions].all()
    assert (out.visit_counts[~root.legal_mask] == 0).all()
    np.testing.assert_allclose(out.policy_targets.sum(axis=1), 1.0)
    assert (out.policy_targets[~root.legal_mask] == 0).all()
    assert 1 <= out.mean_depth <= out.max_depth <= 25
    assert np.isfinite(out.root_values).all()


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_same_seed_same_search(policy):
    def run(seed):
        rng = np.random.default_rng(seed)
        root = random_root(16, 5, np.random.default_rng(1))
        return search(root, random_model(5), rng, SearchConfig(policy=policy, num_simulations=20))

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.visit_counts, b.visit_counts)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert not np.array_equal(a.visit_counts, c.visit_counts)  # the noise depends on the seed


def test_dirichlet_noise_only_when_exploring_and_only_on_legal_actions():
    rng = np.random.default_rng(0)
    root = random_root(64, 6, rng)
    cfg = SearchConfig(policy="puct", num_simulations=30, dirichlet_fraction=1.0)
    quiet = [search(root, random_model(6), np.random.default_rng(s), cfg, explore=False, temperature=0)
             for s in range(2)]
    np.testing.assert_array_equal(quiet[0].visit_counts, quiet[1].visit_counts)
    noisy = search(root, random_model(6), rng, cfg, explore=True)
    assert (noisy.visit_counts[~root.legal_mask] == 0).all()
    assert not np.array_equal(noisy.visit_counts, quiet[0].visit_counts)


def test_temperature_zero_is_argmax_with_lowest_index_on_ties():
    counts = np.array([[3, 5, 5, 1], [0, 0, 0, 7], [2, 2, 2, 2]])
    actions = visit_count_actions(counts, np.zeros(3), np.random.default_rng(0))
    np.testing.assert_array_equal(actions, [1, 3, 0])


def test_temperature_sampling_follows_powered_counts():
    counts = np.tile(np.array([[1, 3, 0, 4]]), (40_000, 1))
    rng = np.random.default_rng(0)
    for temp in (1.0, 0.5):
        actions = visit_count_actions(counts, np.full(len(counts), temp), rng)
        freq = np.bincount(actions, minlength=4) / len(actions)
        expected = counts[0] ** (1 / temp) / (counts[0] ** (1 / temp)).sum()
        np.testing.assert_allclose(freq, expected, atol=0.01)
        assert freq[2] == 0


def test_bad_input_is_named():
    rng = np.random.default_rng(0)
    root = random_root(4, 3, rng)
    no_legal = SearchRoot(root.embeddings, root.prior_logits, root.values, np.zeros((4, 3), bool), root.to_play)
    with pytest.raises(ValueError, match="at least one legal action"):
        search(no_legal, random_model(3), rng, SearchConfig())
    with pytest.raises(ValueError, match="num_players"):
        search(root, random_model(3), rng, SearchConfig(), num_players=3)
    bad_values = SearchRoot(root.embeddings, root.prior_logits, np.full(4, np.nan), root.legal_mask, root.to_play)
    with pytest.raises(ValueError, match="finite"):
        search(bad_values, random_model(3), rng, SearchConfig())

    def nan_model(emb, actions):
        return emb, np.full(len(actions), np.nan), np.zeros(len(actions)), np.zeros((len(actions), 3))

    with pytest.raises(FloatingPointError, match="simulation 0"):
        search(root, nan_model, rng, SearchConfig())


def test_config_rejects_bad_keys_and_ranges():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="num_simulatons"):
        SearchConfig(num_simulatons=3)
    with pytest.raises(ValidationError, match="num_simulations"):
        SearchConfig(num_simulations=0)
    with pytest.raises(ValidationError, match="policy"):
        SearchConfig(policy="alphabeta")


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_a_model_that_knows_the_rules_is_never_asked_an_illegal_action(policy):
    """Below the root, actions the model gave a logit of -inf (a search over the
    true rules) are never expanded, even where every legal edge looks bad: here
    every state is worth -1 and action 0 is illegal below the root, so pUCT's
    unmasked unvisited action 0 (score 0) would beat the visited legal ones
    (every Q equal, so unnormalised: -1 plus a smaller exploration term)."""
    asked = []

    def recurrent_fn(depth, actions):
        asked.append(np.stack([depth[:, 0], actions], axis=1))
        logits = np.zeros((len(actions), 3))
        logits[:, 0] = -np.inf
        return depth + 1, np.zeros(len(actions)), -np.ones(len(actions)), logits

    root = SearchRoot(np.zeros((4, 1)), np.zeros((4, 3)), -np.ones(4), np.ones((4, 3), bool), np.zeros(4, int))
    cfg = SearchConfig(policy=policy, num_simulations=40, discount=1.0, model="rules")
    out = search(root, recurrent_fn, np.random.default_rng(0), cfg, explore=False)
    asked = np.concatenate(asked)
    below = asked[asked[:, 0] > 0]
    assert len(below) > 0 and (below[:, 1] != 0).all()
    assert out.visit_counts[:, 0].sum() > 0  # at the root action 0 is legal and searched


def test_a_model_row_without_a_legal_action_is_refused():
    def recurrent_fn(emb, actions):
        return emb, np.zeros(len(actions)), np.zeros(len(actions)), np.full((len(actions), 2), -np.inf)

    root = SearchRoot(np.zeros((1, 1)), np.zeros((1, 2)), np.zeros(1), np.ones((1, 2), bool), np.zeros(1, int))
    with pytest.raises(FloatingPointError, match="non-finite"):
        search(root, recurrent_fn, np.random.default_rng(0), SearchConfig(num_simulations=3, model="rules"))


def test_a_learned_model_may_not_mark_actions_illegal():
    """-inf from a learned network is a fault (a diverged net), not a rule."""
    def recurrent_fn(emb, actions):
        logits = np.zeros((len(actions), 2))
        logits[:, 0] = -np.inf
        return emb, np.zeros(len(actions)), np.zeros(len(actions)), logits

    root = SearchRoot(np.zeros((1, 1)), np.zeros((1, 2)), np.zeros(1), np.ones((1, 2), bool), np.zeros(1, int))
    with pytest.raises(FloatingPointError, match="logit of -inf"):
        search(root, recurrent_fn, np.random.default_rng(0), SearchConfig(num_simulations=3))
