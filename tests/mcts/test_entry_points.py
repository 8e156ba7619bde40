"""One entry point per policy (`puct_search`, `gumbel_search`) over the shared
simulation loop, and `search` dispatching to them: same results, same draws."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zeroplan.mcts
from zeroplan.config import SearchConfig
from zeroplan.mcts import SearchRoot, gumbel_search, puct_search, search

from .test_search_api import random_model, random_root

MCTS_SRC = Path(zeroplan.mcts.__file__).parent


def _run(entry, policy, seed, **kw):
    """An entry point on a fixed problem; returns the result and the rng's next draws."""
    players = kw.pop("num_players", 1)
    root = random_root(12, 6, np.random.default_rng(100 + seed), players=players)
    cfg = SearchConfig(policy=policy, num_simulations=15 + seed, root_value=kw.pop("root_value", "mean"),
                       max_num_considered_actions=4, min_value_span=kw.pop("min_span", 0.0))
    rng = np.random.default_rng(seed)
    out = entry(root, random_model(6, seed=seed), rng, cfg, num_players=players, **kw)
    return out, rng.random(3)


def _assert_same(a, b):
    (x, x_rng), (y, y_rng) = a, b
    for field in ("actions", "visit_counts", "root_values", "policy_targets"):
        u, v = getattr(x, field), getattr(y, field)
        assert u.dtype == v.dtype and np.array_equal(u, v), field
    assert (x.mean_depth, x.max_depth) == (y.mean_depth, y.max_depth)
    np.testing.assert_array_equal(x_rng, y_rng)  # the same draws were taken from the rng


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("players", [1, 2])
@pytest.mark.parametrize("explore", [True, False])
@pytest.mark.parametrize("root_value", ["mean", "max_q"])
@pytest.mark.parametrize("temperature", [1.0, 0.0, "per_root"])
def test_puct_search_is_search(seed, players, explore, root_value, temperature):
    if temperature == "per_root":
        temperature = np.linspace(0.0, 2.0, 12)
    kw = dict(num_players=players, explore=explore, root_value=root_value, temperature=temperature)
    _assert_same(_run(puct_search, "puct", seed, **kw), _run(search, "puct", seed, **kw))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("players", [1, 2])
@pytest.mark.parametrize("explore", [True, False])
@pytest.mark.parametrize("root_value", ["mean", "max_q", "improved"])
@pytest.mark.parametrize("temperature", [1.0, 0.0, "per_root"])
def test_gumbel_search_is_search(seed, players, explore, root_value, temperature):
    if temperature == "per_root":
        temperature = np.linspace(0.0, 2.0, 12)
    kw = dict(num_players=players, explore=explore, root_value=root_value, temperature=temperature, min_span=0.1)
    _assert_same(_run(gumbel_search, "gumbel", seed, **kw), _run(search, "gumbel", seed, **kw))


def test_given_gumbel_noise_is_passed_through():
    noise = np.random.default_rng(5).gumbel(size=(12, 6))
    kw = dict(gumbel=noise, explore=True)
    _assert_same(_run(gumbel_search, "gumbel", 0, **kw), _run(search, "gumbel", 0, **kw))


def test_the_entry_point_is_the_policy():
    """`config.policy` is read by `search` only; an entry point uses its own policy."""
    _assert_same(_run(puct_search, "gumbel", 0), _run(search, "puct", 0))
    _assert_same(_run(gumbel_search, "puct", 0), _run(search, "gumbel", 0))


def test_puct_search_rejects_the_improved_root_value():
    root = random_root(2, 3, np.random.default_rng(0))
    cfg = SearchConfig(policy="gumbel", root_value="improved")
    with pytest.raises(ValueError, match="improved"):
        puct_search(root, random_model(3), np.random.default_rng(0), cfg)


def test_public_names():
    assert {"SearchRoot", "SearchResult", "RecurrentFn", "search", "puct_search", "gumbel_search"} \
        <= set(zeroplan.mcts.__all__)
    for name in zeroplan.mcts.__all__:
        assert hasattr(zeroplan.mcts, name)
    assert isinstance(random_root(1, 2, np.random.default_rng(0)), SearchRoot)


def test_no_function_takes_more_than_ten_parameters():
    """Issue 21: small structs of arrays and tuples of scalars instead of long argument lists."""
    long = []
    for path in sorted(MCTS_SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) \
                    + (a.kwarg is not None)
                if count > 10:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({count} parameters)")
    assert not long, "\n".join(long)


def test_importing_the_search_does_not_import_torch():
    code = "import sys, zeroplan.mcts; assert 'torch' not in sys.modules, 'zeroplan.mcts imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
