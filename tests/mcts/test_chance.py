"""Chance nodes (Stochastic MuZero, zeroplan.mcts.chance): the batched engine
against the per-root reference on random trees, the backup through afterstates
on a hand-computed tree, and expectimax values on a known stochastic problem."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mcts.test_vs_reference import coarse
from tests.reference.mcts import reference_search
from tests.reference.toy_models import hash_model_chance, root_hashes, root_outputs_from_hash
from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search
from zeroplan.mcts.chance import ChanceNodes


@st.composite
def problems(draw):
    batch = draw(st.integers(1, 5))
    num_actions = draw(st.integers(1, 6))
    legal = np.array(draw(st.lists(st.lists(st.booleans(), min_size=num_actions, max_size=num_actions),
                                   min_size=batch, max_size=batch)), dtype=bool)
    legal[np.arange(batch), draw(st.lists(st.integers(0, num_actions - 1), min_size=batch, max_size=batch))] = True
    return dict(batch=batch, num_actions=num_actions, num_codes=draw(st.integers(1, 7)), legal=legal,
                seed=draw(st.integers(0, 2**32 - 1)), num_players=draw(st.sampled_from([1, 2])),
                to_play=np.array(draw(st.lists(st.integers(0, 1), min_size=batch, max_size=batch))),
                discount=draw(st.sampled_from([1.0, 0.997, 0.9])), sims=draw(st.integers(1, 40)),
                reward_scale=draw(st.sampled_from([0.0, 1.0, 10.0])), max_considered=draw(st.integers(1, 6)),
                gumbel_noise=draw(st.booleans()), coarse=draw(st.booleans()),
                min_span=draw(st.sampled_from([0.0, 0.1, 1.0])), policy=draw(st.sampled_from(["puct", "gumbel"])))


def _coarse3(fn):
    """`coarse` for a recurrent_fn that also takes from_chance."""
    def wrapped(emb, edges, from_chance):
        return coarse(lambda e, a: fn(e, a, from_chance))(emb, edges)
    return wrapped


@settings(max_examples=120, deadline=None)
@given(problems())
def test_chance_search_matches_reference(p):
    a, c = p["num_actions"], p["num_codes"]
    fn = hash_model_chance(a, c, p["seed"], reward_scale=p["reward_scale"])
    hashes = root_hashes(p["batch"], p["seed"])
    logits, values = root_outputs_from_hash(hashes, a, p["seed"])
    if p["coarse"]:
        fn = _coarse3(fn)
        logits, values = np.round(2 * logits) / 2, np.round(2 * values) / 2
    cfg = SearchConfig(policy=p["policy"], num_simulations=p["sims"], discount=p["discount"],
                       max_num_considered_actions=p["max_considered"], min_value_span=p["min_span"])
    chance = ChanceNodes(a, c)
    gumbel = None
    if p["policy"] == "gumbel" and p["gumbel_noise"]:
        gumbel = np.random.default_rng(p["seed"]).gumbel(size=(p["batch"], chance.width))
    root = chance.pad_root(SearchRoot(hashes, logits, values, p["legal"], p["to_play"]))
    out = chance.trim(search(root, fn, np.random.default_rng(0), cfg, num_players=p["num_players"], temperature=0.0,
                             explore=False, gumbel=gumbel, chance=chance))
    assert out.visit_counts.shape == (p["batch"], a) and out.policy_targets.shape == (p["batch"], a)
    depths = []
    for b in range(p["batch"]):
        ref = reference_search(hashes[b], logits[b], float(values[b]), p["legal"][b], int(p["to_play"][b]), fn,
                               policy=p["policy"], num_simulations=p["sims"], discount=p["discount"],
                               num_players=p["num_players"], max_num_considered_actions=p["max_considered"],
                               gumbel=None if gumbel is None else gumbel[b, :a], min_value_span=p["min_span"],
                               chance_codes=c)
        np.testing.assert_array_equal(out.visit_counts[b], ref["visit_counts"])
        assert out.root_values[b] == ref["root_value"]
        np.testing.assert_array_equal(out.policy_targets[b], ref["policy_target"])
        assert out.actions[b] == ref["action"]
        depths += ref["depths"]
    assert out.max_depth == max(depths)
    # Decision and chance nodes alternate: node s + 1 is made by simulation s.
    tree = out.tree
    for b in range(p["batch"]):
        for n in range(1, p["sims"] + 1):
            assert tree.chance[b, n] != tree.chance[b, tree.parent[b, n]]


def _chain_model(q_x, r0, v0, q_y, codes_logits):
    """One action, two codes: root -> afterstate X -> (code 0) state S0 -> afterstate Y.
    Embeddings [B, 1] float: 0 root, 1 X, 2 S0, 3 Y, 4 anything deeper."""

    def fn(emb, edges, from_chance):
        e = float(emb[0, 0])
        if from_chance[0]:  # code -> state
            return np.array([[2.0 if e == 1 else 4.0]]), np.array([r0]), np.array([v0]), np.zeros((1, 2))
        nxt = {0.0: 1.0, 2.0: 3.0}.get(e, 4.0)
        return np.array([[nxt]]), np.array([0.0]), np.array([q_x if nxt == 1 else q_y]), np.array([codes_logits])

    return fn


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_backup_through_an_afterstate_by_hand(policy):
    """Three simulations, one action: X (the afterstate), then code 0 (prior 0.75 >
    0.25) to S0, then code 0 again (0.75 / 2 > 0.25 / 1) to S0 and on to Y. The
    edge into an afterstate is neither rewarded nor discounted; the code's edge is."""
    v_root, q_x, r0, v0, q_y, gamma = 0.5, 1.0, 2.0, 3.0, -4.0, 0.9
    chance = ChanceNodes(1, 2)
    fn = _chain_model(q_x, r0, v0, q_y, [math.log(0.75), math.log(0.25)])
    root = chance.pad_root(SearchRoot(np.zeros((1, 1)), np.zeros((1, 1)), np.array([v_root]), np.ones((1, 1), bool),
                                      np.zeros(1, int)))
    cfg = SearchConfig(policy=policy, num_simulations=3, discount=gamma)
    out = search(root, fn, np.random.default_rng(0), cfg, temperature=0.0, explore=False, chance=chance)
    t = out.tree
    assert t.chance[0, :4].tolist() == [False, True, False, True]
    assert t.children[0, 1].tolist() == [2, -1]  # both visits of X went through code 0
    assert t.visits[0, :4].tolist() == [4, 3, 2, 1]
    x_sum = q_x + (r0 + gamma * v0) + (r0 + gamma * q_y)
    assert t.value_sum[0, 1] == pytest.approx(x_sum)
    assert t.q[0, 1] == pytest.approx(x_sum / 3)  # Q(root, a) = the afterstate's mean, undiscounted
    assert t.q[0, 2] == pytest.approx(r0 + gamma * (v0 + q_y) / 2)
    assert out.root_values[0] == pytest.approx((v_root + x_sum) / 4)


def _gamble_model():
    """Root: action 0 is a gamble (reward 10 with probability 0.1, else 0: worth 1);
    action 1 is safe (reward 2 either way: worth 2). Afterstates know their true
    value and outcome odds; everything past the outcome is worth 0."""
    odds = np.log(np.array([[0.1, 0.9], [0.5, 0.5]]))
    rewards = np.array([[10.0, 0.0], [2.0, 2.0]])
    worth = (np.exp(odds) * rewards).sum(1)

    def fn(emb, edges, from_chance):
        e = emb[:, 0]
        nxt = np.full((len(e), 1), -1.0)
        reward, value, logits = np.zeros(len(e)), np.zeros(len(e)), np.zeros((len(e), 2))
        for i in range(len(e)):
            if not from_chance[i] and e[i] == 0:  # root -> the afterstate of action a
                nxt[i, 0] = 1 + edges[i]
                value[i] = worth[edges[i]]
                logits[i] = odds[edges[i]]
            elif from_chance[i] and e[i] in (1.0, 2.0):  # the outcome
                reward[i] = rewards[int(e[i]) - 1, edges[i]]
        return nxt, reward, value, logits

    return fn, odds, worth


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
@pytest.mark.parametrize("num_players", [1, 2])
def test_expectimax_values_and_outcome_frequencies(policy, num_players):
    """A max over outcomes would take the gamble (10 > 2); the expectation (1 < 2)
    does not. Each afterstate's codes are visited in proportion to their odds
    (within one visit), and its Q is the expectation up to that rounding."""
    fn, odds, worth = _gamble_model()
    chance = ChanceNodes(2, 2)
    root = chance.pad_root(SearchRoot(np.zeros((1, 1)), np.zeros((1, 2)), np.array([0.0]), np.ones((1, 2), bool),
                                      np.zeros(1, int)))
    cfg = SearchConfig(policy=policy, num_simulations=200, discount=1.0)
    out = chance.trim(search(root, fn, np.random.default_rng(0), cfg, num_players=num_players, temperature=0.0,
                             explore=False, chance=chance))
    assert out.actions[0] == 1
    t = out.tree
    for a in range(2):
        x = t.children[0, 0, a]
        n = t.visits[0, x] - 1  # the afterstate's own evaluation is its first visit
        kids = [t.visits[0, k] if k >= 0 else 0 for k in t.children[0, x, :2]]
        assert sum(kids) == n
        assert np.all(np.abs(np.array(kids) - n * np.exp(odds[a])) <= 1.0)
        # Past the outcome everything is worth 0, whatever the player: Q is the odds-weighted reward.
        assert abs(t.q[0, x] - worth[a]) <= 10.0 / (n + 1)


def test_a_model_answering_with_the_wrong_width_is_refused():
    fn = hash_model_chance(3, 2, seed=1)

    def narrow(emb, edges, from_chance):
        nxt, r, v, logits = fn(emb, edges, from_chance)
        return nxt, r, v, logits[:, :2]

    chance = ChanceNodes(3, 2)
    hashes = root_hashes(2, 1)
    logits, values = root_outputs_from_hash(hashes, 3, 1)
    root = chance.pad_root(SearchRoot(hashes, logits, values, np.ones((2, 3), bool), np.zeros(2, int)))
    with pytest.raises(ValueError, match=r"logits \[B, 3\]"):
        search(root, narrow, np.random.default_rng(0), SearchConfig(num_simulations=4), chance=chance)
    with pytest.raises(ValueError, match=r"root prior_logits must be \[batch, 3\]"):
        chance.pad_root(SearchRoot(hashes, logits[:, :2], values, np.ones((2, 2), bool), np.zeros(2, int)))
