"""The package's architecture, checked on its source: no import cycles between modules, data flows
one way through the layers (a lower layer never imports a higher one), no module over 350 lines.

Every import counts, at module level and inside functions (a function-local import hides a cycle
from Python, not from this test); relative imports are resolved against the importing module."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parent.parent / "zoo"
MAX_LINES = 350
# lowest first; a module may import its own layer's package and any lower layer. ``data`` (the
# demo and CIFAR data sets) sits between the registry and the models; ``scoring`` (verdicts,
# intervals) and ``reporting`` (tables from records) sit below the models, so neither can build or
# run a model or an attack; ``training`` beside ``running``: neither imports the other.
# ``zoo/__init__`` and ``cli`` may import anything.
LAYERS = {"common": 0, "registry": 1, "data": 1.5, "scoring": 1.6, "reporting": 1.8, "models": 2, "attacks": 3,
          "running": 4, "training": 4, "publishing": 6, "studies": 7, "cli": 8, "__main__": 8, "": 9}
ROLES = {"reporting": {"models", "attacks", "running", "training", "studies", "publishing"},
         "scoring": {"data", "reporting", "models", "attacks", "running", "training", "studies", "publishing"}}
"""Role rules beside the layers: reporting never builds or runs an attack (nor a model), scoring
knows only predictions."""


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``), for every ``.py`` under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its body), each resolved to the
    deepest module that exists (``from ..registry import get_entry`` -> ``zoo.registry``)."""
    known, top = modules(root), root.name

    def existing(name: str) -> str:
        while name not in known:
            name = name.rsplit(".", 1)[0]
        return name

    graph = {}
    for name, (path, is_package) in known.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {existing(a.name) for a in node.names if a.name.split(".")[0] == top}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1] if node.level > 1 else here
                    prefix = ".".join([*base, *([node.module] if node.module else [])])
                elif (node.module or "").split(".")[0] == top:
                    prefix = node.module
                else:
                    continue
                targets |= {existing(f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix)
                            for a in node.names}
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), empty when acyclic."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a higher layer, or of another package of the same layer."""
    bad = []
    for source, targets in sorted(graph.items()):
        mine = layer(source)
        if LAYERS[mine] >= LAYERS["cli"]:
            continue
        for target in sorted(targets):
            theirs = layer(target)
            if theirs != mine and (LAYERS[theirs] >= LAYERS[mine]):
                bad.append(f"{source} -> {target}")
    return bad


@pytest.fixture(scope="module")
def graph():
    return import_graph(ZOO)


def test_every_package_has_a_layer(graph):
    assert {layer(m) for m in graph} <= set(LAYERS)


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_no_layer_imports_a_higher_one(graph):
    assert upward_imports(graph) == []


def role_violations(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import a package's role forbids (:data:`ROLES`)."""
    return [f"{source} -> {target}" for source, targets in sorted(graph.items()) for target in sorted(targets)
            if layer(target) in ROLES.get(layer(source), ())]


def test_reporting_never_imports_attacks_models_or_running(graph):
    assert role_violations(graph) == []


def test_data_imports_only_common_and_the_registry(graph):
    assert {layer(t) for t in graph["zoo.data"]} <= {"common", "registry"}


def test_no_module_is_over_350_lines():
    long = {str(p.relative_to(ZOO.parent)): n for p in ZOO.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checks_find_a_hidden_cycle_and_an_upward_import(tmp_path):
    """The checker itself: a cycle hidden in a function-local relative import, and a model module
    importing the attack loop, are both reported."""
    root = tmp_path / "zoo"
    for package in ("registry", "models", "running"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "registry" / "schema.py").write_text("from .bundles import read\n")
    (root / "registry" / "bundles.py").write_text("def read():\n    from . import schema\n")
    (root / "models" / "purifier.py").write_text("import zoo.running.loop\n")
    (root / "running" / "loop.py").write_text("from ..models.purifier import x\n")
    fake = import_graph(root)
    assert fake["zoo.registry.bundles"] == {"zoo.registry.schema"}
    assert ["zoo.registry.bundles", "zoo.registry.schema"] in cycles(fake)
    assert upward_imports(fake) == ["zoo.models.purifier -> zoo.running.loop"]
