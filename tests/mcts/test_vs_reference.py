"""The batched engine against tests/reference's per-root search.

With noise off (or the same Gumbel noise given to both) and a deterministic
toy model whose outputs are a hash of the action path, the two must agree
exactly: same visit counts, same root values (float64 bit for bit), same
policy targets, same actions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.mcts import reference_search
from tests.reference.toy_models import hash_model, root_hashes, root_outputs_from_hash
from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search


@st.composite
def problems(draw):
    batch = draw(st.integers(1, 6))
    num_actions = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    legal = np.array(draw(st.lists(st.lists(st.booleans(), min_size=num_actions, max_size=num_actions),
                                   min_size=batch, max_size=batch)), dtype=bool)
    legal[np.arange(batch), draw(st.lists(st.integers(0, num_actions - 1), min_size=batch, max_size=batch))] = True
    return dict(
        batch=batch, num_actions=num_actions, seed=seed, legal=legal,
        num_players=draw(st.sampled_from([1, 2])),
        to_play=np.array(draw(st.lists(st.integers(0, 1), min_size=batch, max_size=batch))),
        discount=draw(st.sampled_from([1.0, 0.997, 0.9, 0.5])),
        sims=draw(st.integers(1, 40)),
        reward_scale=draw(st.sampled_from([0.0, 1.0, 10.0])),
        max_considered=draw(st.integers(1, 8)),
        gumbel_noise=draw(st.booleans()),
        coarse=draw(st.booleans()),
        min_span=draw(st.sampled_from([0.0, 0.0, 0.1, 1.0, 5.0])),
        illegal=draw(st.sampled_from([0.0, 0.0, 0.3, 0.7])),  # below the root: a model that knows the rules
    )


def coarse(recurrent_fn):
    """Round the model's outputs to multiples of 1/2 so that priors and Q values
    tie often: ties must be broken the same way (lowest action) by both engines
    (-inf logits stay -inf)."""

    def wrapped(emb, actions):
        nxt, r, v, logits = recurrent_fn(emb, actions)
        return nxt, np.round(2 * r) / 2, np.round(2 * v) / 2, np.round(2 * logits) / 2

    return wrapped


def _compare(p, policy):
    recurrent_fn = hash_model(p["num_actions"], p["seed"], reward_scale=p["reward_scale"], illegal=p["illegal"])
    hashes = root_hashes(p["batch"], p["seed"])
    logits, values = root_outputs_from_hash(hashes, p["num_actions"], p["seed"])
    if p["coarse"]:
        recurrent_fn = coarse(recurrent_fn)
        logits, values = np.round(2 * logits) / 2, np.round(2 * values) / 2
    to_play = p["to_play"]  # in single-player games too: a constant that must not flip signs
    cfg = SearchConfig(policy=policy, num_simulations=p["sims"], discount=p["discount"],
                       max_num_considered_actions=p["max_considered"], min_value_span=p["min_span"],
                       model="rules" if p["illegal"] else "learned")
    gumbel = None
    if policy == "gumbel" and p["gumbel_noise"]:
        gumbel = np.random.default_rng(p["seed"]).gumbel(size=(p["batch"], p["num_actions"]))
    root = SearchRoot(hashes, logits, values, p["legal"], to_play)

    def run(config):
        return search(root, recurrent_fn, np.random.default_rng(0), config, num_players=p["num_players"],
                      temperature=0.0, explore=False, gumbel=gumbel)

    out = run(cfg)
    # The other root values come from the same tree: only root_values may differ.
    kinds = ["max_q", "improved"] if policy == "gumbel" else ["max_q"]
    other = {k: run(cfg.model_copy(update={"root_value": k})) for k in kinds}
    for k, o in other.items():
        np.testing.assert_array_equal(o.visit_counts, out.visit_counts)
        np.testing.assert_array_equal(o.actions, out.actions)
    depths = []
    for b in range(p["batch"]):
        ref = reference_search(hashes[b], logits[b], float(values[b]), p["legal"][b], int(to_play[b]), recurrent_fn,
                               policy=policy, num_simulations=p["sims"], discount=p["discount"],
                               num_players=p["num_players"], max_num_considered_actions=p["max_considered"],
                               gumbel=None if gumbel is None else gumbel[b], min_value_span=p["min_span"])
        np.testing.assert_array_equal(out.visit_counts[b], ref["visit_counts"])
        assert out.root_values[b] == ref["root_value"]
        assert other["max_q"].root_values[b] == ref["root_max_q"]
        if policy == "gumbel":
            assert np.isclose(other["improved"].root_values[b], ref["root_improved_value"], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(out.policy_targets[b], ref["policy_target"])
        assert out.actions[b] == ref["action"]
        depths += ref["depths"]
    assert out.max_depth == max(depths)
    assert np.isclose(out.mean_depth, np.mean(depths))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_puct_matches_reference(p):
    _compare(p, "puct")


@settings(max_examples=150, deadline=None)
@given(problems())
def test_gumbel_matches_reference(p):
    _compare(p, "gumbel")
