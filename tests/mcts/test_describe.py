"""Reading a finished tree back (mcts.describe): what `explain` and the web page show."""

from __future__ import annotations

import numpy as np
import pytest

from tests.reference.toy_models import hash_model, root_hashes, root_outputs_from_hash
from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, search
from zeroplan.mcts.describe import count_nodes, describe_node, principal_variation


def _search(policy: str, players: int, sims: int = 40, seed: int = 3, actions: int = 4, illegal: float = 0.0,
            discount: float = 0.9):
    hashes = root_hashes(2, seed)
    logits, values = root_outputs_from_hash(hashes, actions, seed)
    legal = np.ones((2, actions), bool)
    legal[1, 0] = False
    root = SearchRoot(hashes.reshape(-1, 1), logits, values, legal, np.array([0, 1]))
    config = SearchConfig(policy=policy, num_simulations=sims, discount=discount,
                          model="rules" if illegal else "learned")
    out = search(root, hash_model(actions, seed, illegal=illegal), np.random.default_rng(0), config,
                 num_players=players, temperature=0.0, explore=False)
    return out, config


def _walk(node: dict):
    yield node
    for edge in node["children"]:
        if "child" in edge:
            yield from _walk(edge["child"])


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
@pytest.mark.parametrize("players", [1, 2])
def test_the_described_tree_agrees_with_the_search(policy, players):
    out, config = _search(policy, players)
    for b in range(2):
        full = describe_node(out.tree, b, top=None, depth=1)
        # The root lists every legal move once, with the search's own visit counts.
        assert sorted(e["action"] for e in full["children"]) == np.flatnonzero(out.tree.legal[b, 0]).tolist()
        for edge in full["children"]:
            assert edge["visits"] == out.visit_counts[b, edge["action"]]
        assert full["visits"] == config.num_simulations + 1
        assert sum(e["visits"] for e in full["children"]) == config.num_simulations
        assert config.root_value == "mean" and full["value"] == pytest.approx(out.root_values[b])
        assert abs(sum(e["prior"] for e in full["children"]) - 1) < 1e-9

        tree = describe_node(out.tree, b, top=2, depth=4)
        for node in _walk(tree):
            shown = node["children"]
            assert len(shown) <= 2
            assert [e["visits"] for e in shown] == sorted((e["visits"] for e in shown), reverse=True)
            # Pruned edges are accounted for: the node's visits are its own evaluation plus its edges'.
            assert node["visits"] == 1 + sum(e["visits"] for e in shown) + node["others"]["visits"]
            for edge in shown:
                if "child" not in edge:
                    continue
                child = edge["child"]
                # An edge's Q is its reward plus the discounted value of the child, seen by the mover.
                sign = 1.0 if child["to_play"] == node["to_play"] else -1.0
                assert edge["q"] == pytest.approx(edge["reward"] + config.discount * sign * child["value"])
                assert child["visits"] == edge["visits"]
                assert child["to_play"] == (node["to_play"] if players == 1 else 1 - node["to_play"])
        assert count_nodes(tree) == sum(1 for _ in _walk(tree))


def test_depth_and_top_prune():
    out, _ = _search("puct", 1, sims=60)
    assert describe_node(out.tree, 0, top=3, depth=0)["children"] == []
    one = describe_node(out.tree, 0, top=1, depth=10)
    assert all(len(n["children"]) <= 1 for n in _walk(one))
    assert count_nodes(describe_node(out.tree, 0, top=5, depth=1)) <= 1 + 4


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_principal_variation_follows_the_most_visited_child(policy):
    out, _ = _search(policy, 2, sims=50)
    tree = out.tree
    for b in range(2):
        pv = principal_variation(tree, b)
        assert pv and out.visit_counts[b, pv[0]] == out.visit_counts[b].max()
        node = 0
        for action in pv:  # every step takes a child with the most visits among its siblings
            kids = tree.children[b, node]
            visits = np.where(kids >= 0, tree.visits[b, np.maximum(kids, 0)], 0)
            assert visits[action] == visits.max() > 0
            node = kids[action]
        kids = tree.children[b, node]
        assert (kids < 0).all() or tree.visits[b, np.maximum(kids, 0)][kids >= 0].max() == 0


def test_a_rules_model_hides_illegal_moves_below_the_root():
    out, _ = _search("puct", 2, sims=60, illegal=0.5)
    model = hash_model(4, 3, illegal=0.5)
    tree, checked = out.tree, 0
    for node in range(1, tree.visits.shape[1]):
        parent = tree.parent[0, node]
        action = int(np.flatnonzero(tree.children[0, parent] == node)[0])
        _, _, _, logits = model(tree.embeddings[0, parent][None], np.array([action]))
        listed = sorted(e["action"] for e in describe_node(tree, 0, node, top=None, depth=1)["children"])
        assert listed == np.flatnonzero(np.isfinite(logits[0])).tolist()  # the moves the model allows, no other
        checked += int(len(listed) < 4)
    assert checked > 10  # the model did hide moves
