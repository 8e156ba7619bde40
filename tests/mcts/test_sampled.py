"""Sampled MuZero's search (zeroplan.mcts.sampled): the batched engine against
the per-root reference, the prior correction on hand-computed cases, and the
samplers' contracts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.mcts import reference_sampled_search
from tests.reference.toy_models import hash_model, hash_model_continuous, root_hashes
from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search
from zeroplan.mcts.sampled import (LOG_STD_MAX, LOG_STD_MIN, CategoricalSampler, GaussianSampler, SampledActions,
                                   gaussian_log_density)


class HashSampler:
    """A sampler deterministic in its parameters: the reference and the batched
    engine draw in different orders, so a random one could not be compared.
    Continuous (dim > 0): codes around the means; discrete: indices picked from the
    parameters, with the last slot padded (logit -inf) where the first parameter is > 0."""

    def __init__(self, num_samples: int, dim: int = 0, num_actions: int = 0):
        self.num_samples, self.dim, self.num_actions = num_samples, dim, num_actions
        self.code_shape = (dim,) if dim else ()
        self.code_dtype = np.float32 if dim else np.int64

    def sample(self, params, legal, rng, include_mode=False):
        params = np.asarray(params, dtype=np.float64)
        j = np.arange(self.num_samples)
        if self.dim:
            wave = np.sin(params.sum(1)[:, None, None] * (j[None, :, None] + 1.3) + np.arange(self.dim))
            codes = (params[:, None, :self.dim] + wave).astype(np.float32)
            return codes, np.cos(3.0 * codes.astype(np.float64).sum(-1))
        picks = np.floor(np.abs(np.sin(params.sum(1)[:, None] * (j[None, :] + 2.7))) * self.num_actions)
        codes = np.minimum(picks, self.num_actions - 1).astype(np.int64)
        logits = params[np.arange(len(params))[:, None], codes]
        if self.num_samples > 1:
            logits[params[:, 0] > 0, -1] = -np.inf
        return codes, logits

    def inputs(self, codes):
        return np.tanh(codes).astype(np.float32) if self.dim else np.asarray(codes, dtype=np.int64)


@st.composite
def problems(draw):
    return dict(batch=draw(st.integers(1, 5)), k=draw(st.integers(1, 6)), dim=draw(st.sampled_from([0, 1, 2, 3])),
                num_actions=draw(st.integers(2, 9)), seed=draw(st.integers(0, 2**32 - 1)),
                sims=draw(st.integers(1, 30)), discount=draw(st.sampled_from([1.0, 0.997, 0.9])),
                reward_scale=draw(st.sampled_from([0.0, 1.0, 10.0])), max_considered=draw(st.integers(1, 6)),
                policy=draw(st.sampled_from(["puct", "gumbel"])), gumbel_noise=draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(problems())
def test_sampled_search_equals_the_reference(p):
    batch, k, dim = p["batch"], p["k"], p["dim"]
    sampler = HashSampler(k, dim, p["num_actions"])
    if dim:
        model = hash_model_continuous(dim, p["seed"], p["reward_scale"])
        params = np.random.default_rng(p["seed"]).uniform(-3, 3, (batch, 2 * dim))
    else:
        model = hash_model(p["num_actions"], p["seed"], p["reward_scale"])
        params = np.random.default_rng(p["seed"]).uniform(-3, 3, (batch, p["num_actions"]))
    hashes = root_hashes(batch, p["seed"])
    values = np.random.default_rng(p["seed"] + 1).uniform(-1, 1, batch)
    config = SearchConfig(policy=p["policy"], num_simulations=p["sims"], discount=p["discount"],
                          max_num_considered_actions=p["max_considered"], sampled_actions=k)
    gumbel = np.random.default_rng(p["seed"]).gumbel(size=(batch, k)) \
        if p["policy"] == "gumbel" and p["gumbel_noise"] else None
    table = SampledActions(sampler, batch, p["sims"] + 1, rng=None)
    logits, legal = table.root(params, None)
    root = SearchRoot(hashes, logits, values, legal, np.zeros(batch, np.int64))
    out = search(root, model, np.random.default_rng(0), config, temperature=0.0, explore=False, gumbel=gumbel,
                 sampled=table)
    for b in range(batch):
        ref = reference_sampled_search(hashes[b], params[b], values[b], 0, model, sampler, policy=p["policy"],
                                       num_simulations=p["sims"], discount=p["discount"], num_players=1,
                                       max_num_considered_actions=p["max_considered"],
                                       gumbel=None if gumbel is None else gumbel[b])
        np.testing.assert_array_equal(out.codes[b], ref["codes"])
        np.testing.assert_array_equal(out.visit_counts[b], ref["visit_counts"])
        assert out.root_values[b] == ref["root_value"]
        np.testing.assert_allclose(out.policy_targets[b], ref["policy_target"], rtol=0, atol=1e-12)
        assert out.actions[b] == ref["action"]
        np.testing.assert_array_equal(out.chosen_codes()[b], ref["codes"][ref["action"]])


def test_categorical_prior_correction_by_hand():
    """beta = softmax(logits / T); prior ~ beta_hat / beta * pi over the distinct draws."""
    logits = np.log(np.array([[0.5, 0.3, 0.2, 0.0 + 1e-300]]))
    sampler = CategoricalSampler(num_actions=4, num_samples=4, temperature=2.0)
    rng = np.random.default_rng(3)
    # The draws this generator makes: uniform numbers against beta's cdf.
    u = np.random.default_rng(3).random((1, 4))
    codes, prior_logits = sampler.sample(logits, np.array([[True, True, True, False]]), rng)
    pi = np.array([0.5, 0.3, 0.2])
    beta = np.sqrt(pi) / np.sqrt(pi).sum()
    draws = np.searchsorted(np.cumsum(beta), u[0] * np.cumsum(beta)[-1], side="right")
    distinct, counts = np.unique(draws, return_counts=True)
    n = len(distinct)
    assert codes[0, :n].tolist() == distinct.tolist()
    expected = np.log(counts / 4) + np.log(pi[distinct]) - np.log(beta[distinct])
    np.testing.assert_allclose(prior_logits[0, :n], expected, rtol=1e-12)
    assert np.isneginf(prior_logits[0, n:]).all()
    # A hand-written case: draws [0, 0, 2, 1] at T = 2 give priors proportional to
    # (2/4) * 0.5 / beta0, (1/4) * 0.3 / beta1 and (1/4) * 0.2 / beta2.
    b = np.sqrt([0.5, 0.3, 0.2]) / np.sqrt([0.5, 0.3, 0.2]).sum()
    weights = np.array([0.5 * 0.5 / b[0], 0.25 * 0.3 / b[1], 0.25 * 0.2 / b[2]])
    assert weights[0] / weights.sum() == pytest.approx(0.5 * math.sqrt(0.5) / (
        0.5 * math.sqrt(0.5) + 0.25 * math.sqrt(0.3) + 0.25 * math.sqrt(0.2)))


def test_categorical_never_samples_an_illegal_action():
    sampler = CategoricalSampler(num_actions=6, num_samples=32, temperature=1.0)
    legal = np.array([[False, True, False, True, False, False], [True] * 6])
    codes, logits = sampler.sample(np.zeros((2, 6)), legal, np.random.default_rng(0))
    used = np.isfinite(logits)
    assert set(codes[0][used[0]].tolist()) <= {1, 3}
    assert used.sum(1).tolist()[0] <= 2


def test_gaussian_prior_correction_by_hand():
    """At temperature T the draws come from N(mu, T sigma^2): prior logit = log N(u; mu, sigma)
    - log N(u; mu, sqrt(T) sigma); at T = 1 every sample has logit 0 (the prior is beta_hat)."""
    params = np.array([[0.3, -0.5, math.log(0.7), math.log(1.3)]])  # two dimensions
    codes, logits = GaussianSampler(2, 5, 1.0).sample(params, None, np.random.default_rng(1))
    np.testing.assert_allclose(logits, 0.0, atol=1e-12)
    codes, logits = GaussianSampler(2, 5, 4.0).sample(params, None, np.random.default_rng(1))
    u = codes[0, 0].astype(np.float64)
    mu, sd = np.array([0.3, -0.5]), np.array([0.7, 1.3])

    def log_n(x, m, s):
        return float(np.sum(-0.5 * ((x - m) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)))

    assert logits[0, 0] == pytest.approx(log_n(u, mu, sd) - log_n(u, mu, 2.0 * sd), rel=1e-9)
    # the draws themselves spread as N(mu, 4 sigma^2)
    many, _ = GaussianSampler(2, 20000, 4.0).sample(params, None, np.random.default_rng(2))
    np.testing.assert_allclose(many[0].std(0), 2.0 * sd, rtol=0.03)
    np.testing.assert_allclose(many[0].mean(0), mu, atol=0.05)


def test_gaussian_log_std_is_clipped_and_the_mode_is_included():
    params = np.array([[0.25, 40.0], [-0.5, -40.0]])
    codes, _ = GaussianSampler(1, 400, 1.0).sample(params, None, np.random.default_rng(0), include_mode=True)
    assert codes[0, 0, 0] == pytest.approx(0.25) and codes[1, 0, 0] == pytest.approx(-0.5)
    assert codes[0, 1:, 0].std() == pytest.approx(math.exp(LOG_STD_MAX), rel=0.15)
    assert codes[1, 1:, 0].std() == pytest.approx(math.exp(LOG_STD_MIN), rel=0.15)
    x = np.array([[[0.1, 0.2]]])
    assert gaussian_log_density(x, np.zeros((1, 2)), np.zeros((1, 2)))[0, 0] == pytest.approx(
        -0.5 * (0.01 + 0.04) - math.log(2 * math.pi))


def test_actions_stay_in_bounds():
    """tanh squashes any code into [-1, 1], even the Gaussian's widest draws."""
    params = np.array([[5.0, LOG_STD_MAX], [-5.0, LOG_STD_MAX]])
    sampler = GaussianSampler(1, 1000, 100.0)
    codes, _ = sampler.sample(params, None, np.random.default_rng(0))
    actions = sampler.inputs(codes)
    assert np.abs(actions).max() <= 1.0


class ConstantModel:
    """Only what plan() reads before it searches: the kind of action and the root's outputs."""

    def __init__(self, action_dim: int, policy_size: int):
        self.action_dim, self.policy_size = action_dim, policy_size

    def initial(self, obs):
        return np.zeros((1, 1)), np.zeros(1), np.zeros((1, self.policy_size))


@pytest.mark.parametrize("action_dim,actions,config,players,message", [
    (1, 1, SearchConfig(), 1, "search.sampled_actions"),  # continuous actions without a sampled search
    (0, 9, SearchConfig(sampled_actions=4), 2, "single-player"),  # a sampled search of a two-player game
])
def test_plan_refuses_what_the_sampled_search_cannot_do(action_dim, actions, config, players, message):
    from zeroplan.mcts.model import plan

    model = ConstantModel(action_dim, 2 * action_dim or actions)
    with pytest.raises(ValueError, match=message):
        plan(model, np.zeros((1, 3)), np.ones((1, actions), bool), np.zeros(1, int), config,
             np.random.default_rng(0), players, 0.0, False)
