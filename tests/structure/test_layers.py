"""The package's layers: no module imports one above it, and nothing imports in
a cycle. Lazy imports inside functions count too (they are how cycles hide)."""

from __future__ import annotations

import ast
from pathlib import Path

import zeroplan

SRC = Path(zeroplan.__file__).parent

# Lower numbers are lower layers. A module may import modules of a lower layer,
# and modules of its own package (zeroplan.muzero.replay -> zeroplan.muzero.episode).
LAYERS = [
    ("zeroplan.variant", 0), ("zeroplan.overrides", 0), ("zeroplan.shipped", 0),
    ("zeroplan.config", 0.5), ("zeroplan.presets", 0.5),
    ("zeroplan.envs", 1), ("zeroplan.nets", 1), ("zeroplan.mcts", 1), ("zeroplan.io", 1),
    ("zeroplan.muzero", 2), ("zeroplan.mbrl", 2),
    ("zeroplan.eval", 3), ("zeroplan.baselines", 3),
    ("zeroplan.runners", 4),
    ("zeroplan.muzero.agent", 5), ("zeroplan.mbrl.pets", 5), ("zeroplan.agents", 5.5),
    ("zeroplan.play", 6), ("zeroplan.explain", 6), ("zeroplan.export", 6), ("zeroplan.compare", 6), ("zeroplan.tune", 6),
    ("zeroplan.serve", 6.2),  # the web page over explain's positions and searches
    ("zeroplan.cli", 6.5),
    ("zeroplan", 7),  # the public API, lazily
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> tuple[float, str]:
    """(layer, the prefix that placed it): the longest matching prefix wins."""
    best = max((p for p, _ in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return dict(LAYERS)[best], best


def package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "zeroplan"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "zeroplan":
            found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {m for m in imports(path) if m != name} for name, path in modules.items()}


def test_the_layers_name_every_module():
    for name in graph():
        assert layer(name)[1] != "zeroplan" or name == "zeroplan", f"{name} has no layer in LAYERS"


def test_no_module_imports_one_above_it():
    wrong = []
    for name, deps in graph().items():
        mine = layer(name)
        for dep in deps:
            theirs = layer(dep)
            upward = theirs[0] > mine[0]
            sideways = theirs[0] == mine[0] and package(dep) != package(name)
            if upward or sideways:
                wrong.append(f"{name} (layer {mine[0]}) imports {dep} (layer {theirs[0]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    g = graph()
    # A submodule import `zeroplan.a.b` also runs `zeroplan.a`'s __init__; follow edges as written.
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep in g and state.get(dep) is None:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(g):
        if state.get(name) is None:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk itself finds imports inside functions (a check that could not fail is no check)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from zeroplan.cli import main\n")
    assert imports(f) == {"zeroplan.cli"}
