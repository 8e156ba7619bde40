"""A finished search tree as plain data, for people: `zeroplan explain`, the web page.

The search keeps B trees as arrays (`tree.Tree`); this reads one of them back
as nested dicts of Python numbers, each edge with its visits, prior, Q and
reward, pruned to the most visited children, plus the principal variation.
Signs are the tree's own (docs/search.md): an edge's Q is from the point of
view of the player who takes it, a node's value from its player to move.
"""

from __future__ import annotations

import numpy as np

from zeroplan.mcts.tree import Tree


def _edges(tree: Tree, b: int, node: int) -> list[dict]:
    """Every legal edge of `node`: expanded ones with their statistics, most visited first."""
    out = []
    for action in np.flatnonzero(tree.legal[b, node]):
        child = int(tree.children[b, node, action])
        edge = {"action": int(action), "prior": float(tree.prior[b, node, action]), "visits": 0, "q": None,
                "reward": None}
        if child >= 0:
            edge.update(visits=int(tree.visits[b, child]), q=float(tree.q[b, child]),
                        reward=float(tree.reward[b, child]))
        edge["_child"] = child
        out.append(edge)
    out.sort(key=lambda e: (-e["visits"], -(e["q"] if e["q"] is not None else -np.inf), -e["prior"]))
    return out


def describe_node(tree: Tree, b: int = 0, node: int = 0, *, top: int | None = 5, depth: int = 3) -> dict:
    """Node `node` of tree `b` and, `depth` levels down, its `top` most visited
    children (all legal edges at the root's first level when `top` is None;
    unvisited edges are listed only there). Pruned edges are summed in `others`."""
    visits = int(tree.visits[b, node])
    data: dict = {"node": node, "visits": visits, "to_play": int(tree.to_play[b, node]),
                  "value": float(tree.value_sum[b, node] / visits) if visits else None,
                  "raw_value": float(tree.raw_value[b, node]), "children": []}
    edges = _edges(tree, b, node)
    if depth <= 0:
        shown = []
    else:
        shown = edges if top is None else [e for e in edges if e["visits"] > 0][:top]
    for edge in shown:
        child = edge.pop("_child")
        if child >= 0 and edge["visits"] > 0:
            edge["child"] = describe_node(tree, b, child, top=top if top is not None else 5, depth=depth - 1)
        data["children"].append(edge)
    hidden = [e for e in edges if e not in shown]
    data["others"] = {"edges": len(hidden), "visits": int(sum(e["visits"] for e in hidden))}
    return data


def principal_variation(tree: Tree, b: int = 0) -> list[int]:
    """The actions of the most visited path from the root (ties: the higher Q)."""
    path, node = [], 0
    while True:
        visited = [e for e in _edges(tree, b, node) if e["visits"] > 0]
        if not visited:
            return path
        path.append(visited[0]["action"])
        node = visited[0]["_child"]


def count_nodes(data: dict) -> int:
    """Nodes in a described tree (for tests and captions)."""
    return 1 + sum(count_nodes(e["child"]) for e in data["children"] if "child" in e)
