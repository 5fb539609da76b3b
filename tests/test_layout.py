"""Layout rules: data flows raw → train → serve, so `serve` and `models` never import `train`,
and no module imports another that (directly or through others) imports it back."""

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parent.parent / "src"


def _module_name(path: Path) -> str:
    parts = ["triage", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> nx.DiGraph:
    """Every `import triage...` in the package, lazy (inside functions) ones included."""
    graph = nx.DiGraph()
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    for name, path in modules.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("triage"):
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("triage")]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_serve_models_and_monitor_never_import_train():
    graph = _imports()
    offenders = [
        (a, b)
        for a, b in graph.edges
        if a.startswith(("triage.serve", "triage.models", "triage.monitor")) and b.startswith("triage.train")
    ]
    assert offenders == []


def test_no_import_circles():
    assert list(nx.simple_cycles(_imports())) == []


def test_every_registered_kind_loads_a_class_of_that_kind():
    from triage.models.kinds import KINDS, loader

    for name in KINDS:
        assert loader(name).kind == name
