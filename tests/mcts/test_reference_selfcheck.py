"""Self-checks of the reference search (tests/reference/mcts.py) on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.reference.mcts import considered_visits_schedule, reference_search
from tests.reference.toy_models import hash_model, root_hashes, root_outputs_from_hash


def constant_model(num_actions: int, reward: float, value: float, logits=None):
    """Every step: the same reward, value and logits; the embedding is carried along."""
    lg = np.zeros(num_actions) if logits is None else np.asarray(logits, dtype=np.float64)

    def recurrent_fn(embeddings, actions):
        b = len(actions)
        return (np.asarray(embeddings).copy(), np.full(b, float(reward)), np.full(b, float(value)),
                np.tile(lg, (b, 1)))

    return recurrent_fn


def search(recurrent_fn, logits, value=0.0, legal=None, to_play=0, **kw):
    logits = np.asarray(logits, dtype=np.float64)
    legal = np.ones(len(logits), bool) if legal is None else np.asarray(legal, bool)
    kw.setdefault("discount", 1.0)
    kw.setdefault("num_players", 1)
    return reference_search(np.zeros(1), logits, value, legal, to_play, recurrent_fn, **kw)


# --- the sequential-halving schedule ------------------------------------------------------


def test_schedule_hand_computed():
    # m=4, S=8: log2m = ceil(log2 4) = 2.
    #   phase k=4: extra = max(1, 8 // (2*4)) = 1 -> one round over 4 actions: 0 0 0 0
    #   phase k=max(2, 4//2)=2: extra = max(1, 8 // (2*2)) = 2 -> rounds 1 1, 2 2
    #   8 entries reached: [0,0,0,0,1,1,2,2]
    assert considered_visits_schedule(4, 8) == [0, 0, 0, 0, 1, 1, 2, 2]
    # m=2, S=4: log2m = 1.
    #   phase k=2: extra = max(1, 4 // (1*2)) = 2 -> rounds 0 0, 1 1 -> 4 entries: [0,0,1,1]
    assert considered_visits_schedule(2, 4) == [0, 0, 1, 1]
    # m=3, S=6: log2m = ceil(1.58) = 2.
    #   phase k=3: extra = max(1, 6 // 6) = 1 -> 0 0 0
    #   phase k=max(2, 1)=2: extra = max(1, 6 // 4) = 1 -> 1 1
    #   phase k=2 again: extra = 1 -> 2 (cut at 6 entries): [0,0,0,1,1,2]
    assert considered_visits_schedule(3, 6) == [0, 0, 0, 1, 1, 2]
    # m=1: 0, 1, 2, ...
    assert considered_visits_schedule(1, 5) == [0, 1, 2, 3, 4]
    # m=4, S=3: the first phase is cut short.
    assert considered_visits_schedule(4, 3) == [0, 0, 0]


# --- pUCT ----------------------------------------------------------------------------------


def test_puct_single_simulation():
    # Root N=1: every score is c * prior (no children), so the highest prior wins.
    out = search(constant_model(4, 0.25, 0.5), [0.0, 1.0, 2.0, -1.0], value=0.1,
                 policy="puct", num_simulations=1, discount=0.9)
    assert list(out["visit_counts"]) == [0, 0, 1, 0]
    assert out["depths"] == [1]
    assert out["action"] == 2
    assert list(out["policy_target"]) == [0.0, 0.0, 1.0, 0.0]
    # root: (0.1 + (0.25 + 0.9 * 0.5)) / 2
    assert out["root_value"] == (0.1 + (0.25 + 0.9 * 0.5)) / 2


def test_puct_uses_q_after_first_visit():
    # A=2, uniform prior, reward 1, value 0, discount 1, root value 0, S=2.
    # sim 0: tie -> action 0 (depth 1); backup: child0 = 0/1, Q(root,0) = 1, root sum = 1.
    # sim 1: score0 = c*sqrt(2)/2*0.5 + normalize(1) (= 1: max == min) ~ 1.44,
    #        score1 = c*sqrt(2)*0.5 ~ 0.88 -> action 0 again; at child0 tie -> new node (depth 2):
    #        leaf g = 0, child0 g = 1 + 0 = 1, root g = 1 + 1 = 2.
    # root value = (0 + 1 + 2) / 3 = 1.
    out = search(constant_model(2, 1.0, 0.0), [0.0, 0.0], policy="puct", num_simulations=2)
    assert list(out["visit_counts"]) == [2, 0]
    assert out["depths"] == [1, 2]
    assert out["root_value"] == 1.0


def test_puct_dirichlet_noise_mixes_into_root_prior():
    # fraction 1: the prior is the noise itself, so the single simulation goes to action 1.
    out = search(constant_model(3, 0.0, 0.0), [5.0, 0.0, 0.0], policy="puct", num_simulations=1,
                 noise=np.array([0.0, 1.0, 0.0]), dirichlet_fraction=1.0)
    assert list(out["visit_counts"]) == [0, 1, 0]


# --- both policies -------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_single_legal_action(policy):
    legal = [False, False, False, True]
    out = search(hash_model(4, seed=3), [3.0, 2.0, 1.0, -2.0], legal=legal, policy=policy,
                 num_simulations=6, discount=0.95, gumbel=np.array([5.0, 5.0, 5.0, 0.0]))
    assert list(out["visit_counts"]) == [0, 0, 0, 6]
    assert out["action"] == 3
    assert list(out["policy_target"]) == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_single_player_chain_root_value(policy):
    # One action: the tree is a chain, simulation s creates the node at depth s+1.
    # Reward 1, value 0, discount 1: simulation at depth d backs up g = d at the root.
    # root value = (0.5 + 1 + 2 + 3 + 4) / 5 = 2.1
    out = search(constant_model(1, 1.0, 0.0), [0.0], value=0.5, policy=policy, num_simulations=4)
    assert out["depths"] == [1, 2, 3, 4]
    assert list(out["visit_counts"]) == [4]
    assert out["root_value"] == pytest.approx(2.1, abs=1e-15)


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_two_player_signs(policy):
    # Reward +1 for the mover, value 0: good for the root's player.
    out = search(constant_model(2, 1.0, 0.0), [0.0, 0.0], policy=policy, num_simulations=1,
                 num_players=2, discount=0.9)
    assert out["root_value"] == 0.5  # (0 + 1) / 2
    # Reward 0, child value +1 for the child's player (the opponent): bad for the root.
    out = search(constant_model(2, 0.0, 1.0), [0.0, 0.0], policy=policy, num_simulations=1,
                 num_players=2, discount=0.9)
    assert out["root_value"] == (0.0 + 0.9 * -1.0) / 2
    # The same in single-player: the child's player is the root's player.
    out = search(constant_model(2, 0.0, 1.0), [0.0, 0.0], policy=policy, num_simulations=1,
                 num_players=1, discount=0.9)
    assert out["root_value"] == 0.9 / 2


# --- Gumbel --------------------------------------------------------------------------------


def test_gumbel_single_simulation_and_improved_policy():
    # Uniform prior over 2 actions, g = [1, 0]: simulation 0 visits action 0.
    # Child: reward 0.5, value 0, discount 1 -> Q(root, 0) = 0.5; raw root value 0.
    # Nsum = 1; weighted Q = 0.5*0.5 / 0.5 = 0.5; v_mix = (0 + 1*0.5) / 2 = 0.25.
    # q = [0.5, 0.25] -> normalised [1, 0]; sigma = (50 + 1) * 0.1 * q = [5.1, 0].
    # pi = softmax([log .5 + 5.1, log .5]) = [e^5.1, 1] / (e^5.1 + 1).
    out = search(constant_model(2, 0.5, 0.0), [0.0, 0.0], policy="gumbel", num_simulations=1,
                 gumbel=np.array([1.0, 0.0]))
    assert list(out["visit_counts"]) == [1, 0]
    assert out["action"] == 0
    e = math.exp(5.1)
    assert out["policy_target"] == pytest.approx([e / (e + 1), 1 / (e + 1)], rel=1e-12)


def test_gumbel_sequential_halving_counts():
    # m=2, S=4: schedule [0,0,1,1] -> both legal actions get exactly 2 visits.
    fn = hash_model(3, seed=11)
    h = root_hashes(1, seed=11)
    logits, values = root_outputs_from_hash(h, 3, seed=11)
    out = reference_search(h[0], logits[0], float(values[0]), np.array([True, False, True]), 0, fn,
                           policy="gumbel", num_simulations=4, discount=0.99, num_players=2)
    assert list(out["visit_counts"]) == [2, 0, 2]
    assert out["policy_target"][1] == 0.0
    # m=4, S=8: schedule [0,0,0,0,1,1,2,2] -> two actions with 1 visit, two with 3.
    fn = hash_model(4, seed=5)
    h = root_hashes(2, seed=5)
    logits, values = root_outputs_from_hash(h, 4, seed=5)
    for i in range(2):
        out = reference_search(h[i], logits[i], float(values[i]), np.ones(4, bool), 0, fn,
                               policy="gumbel", num_simulations=8, discount=1.0, num_players=1,
                               gumbel=np.array([0.3, -0.2, 0.1, 0.0]))
        assert sorted(out["visit_counts"]) == [1, 1, 3, 3]
        assert out["visit_counts"][out["action"]] == 3
        assert sum(out["policy_target"]) == pytest.approx(1.0)


# --- toy model -----------------------------------------------------------------------------


def test_hash_model_deterministic_and_in_range():
    fn = hash_model(5, seed=7, reward_scale=0.5)
    h = root_hashes(4, seed=7)
    assert h.dtype == np.uint64 and h.shape == (4, 1)
    a = np.array([0, 1, 2, 4])
    n1, r1, v1, l1 = fn(h, a)
    n2, r2, v2, l2 = fn(h.copy(), a.copy())
    assert n1.dtype == np.uint64 and n1.shape == (4, 1)
    assert np.array_equal(n1, n2) and np.array_equal(r1, r2) and np.array_equal(l1, l2)
    assert np.all(np.abs(r1) <= 0.5) and np.all(np.abs(v1) <= 1) and np.all(np.abs(l1) <= 3)
    assert r1.dtype == v1.dtype == l1.dtype == np.float64 and l1.shape == (4, 5)
    # Different actions or seeds lead to different states; a root is defined by its hash.
    assert len({int(x) for x in fn(np.repeat(h[:1], 5, 0), np.arange(5))[0][:, 0]}) == 5
    assert not np.array_equal(root_hashes(4, seed=8), h)
    lg, vals = root_outputs_from_hash(h, 5, seed=7)
    lg2, vals2 = root_outputs_from_hash(h[:, 0], 5, seed=7)
    assert np.array_equal(lg, lg2) and np.array_equal(vals, vals2) and lg.shape == (4, 5)


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_hash_model_search_smoke(policy):
    fn = hash_model(4, seed=1)
    h = root_hashes(1, seed=1)
    logits, values = root_outputs_from_hash(h, 4, seed=1)
    kw = dict(policy=policy, num_simulations=10, discount=0.97, num_players=2)
    out = reference_search(h[0], logits[0], float(values[0]), np.ones(4, bool), 0, fn, **kw)
    again = reference_search(h[0], logits[0], float(values[0]), np.ones(4, bool), 0, fn, **kw)
    assert sum(out["visit_counts"]) == 10 and len(out["depths"]) == 10
    assert list(out["visit_counts"]) == list(again["visit_counts"])
    assert out["root_value"] == again["root_value"]
