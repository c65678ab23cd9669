"""The house's shape, checked: module and function size, the import graph, and no guards around the
project's own apps. These read the source as text (ast); nothing is imported or run.

Limits (docs/development.md): no production module over 600 lines, no function over 80 lines, no
import circle between the project's modules except an app's services <-> tasks pair, and no
``except ImportError`` around an import of catalog, profiling, lineage, governance or config.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("catalog", "profiling", "lineage", "governance", "config")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def production_files() -> list[Path]:
    """Every production module: the apps and config, without tests and migrations."""
    files = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            files.append(path)
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_checks_see_every_app():
    names = {module_name(p) for p in production_files()}
    for app in APPS:
        assert any(n.startswith(app + ".") for n in names), app


def test_no_production_module_over_the_limit():
    too_long = {}
    for path in production_files():
        n = len(path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            too_long[str(path.relative_to(ROOT))] = n
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_no_function_over_the_limit():
    too_long = {}
    for path in production_files():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - start + 1
                if n > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def _imported(module: str, is_package: bool, node: ast.AST, known: set[str]) -> set[str]:
    """The project modules one import statement names (the longest known prefix of each name)."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        mod = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1])
            mod = f"{base}.{mod}" if mod else base
        targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
    else:
        return set()
    found = set()
    for target in targets:
        parts = target.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in known:
                found.add(".".join(parts[:i]))
                break
    return found


def import_graph() -> nx.DiGraph:
    """Every import a production module writes, at module or function level, as an edge."""
    names = {module_name(p): p for p in production_files()}
    known = set(names)
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for module, path in names.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(_tree(path)):
            for target in _imported(module, is_package, node, known):
                if target != module:
                    graph.add_edge(module, target)
    return graph


def _allowed_circle(component: set[str]) -> bool:
    """An app's services <-> tasks pair (services queue tasks; tasks call services)."""
    if len(component) != 2:
        return False
    a, b = sorted(component)
    pa, pb = a.rsplit(".", 1), b.rsplit(".", 1)
    return pa[0] == pb[0] and {pa[1], pb[1]} == {"services", "tasks"}


def test_no_import_circle_but_services_and_tasks():
    circles = [
        sorted(c)
        for c in nx.strongly_connected_components(import_graph())
        if len(c) > 1 and not _allowed_circle(c)
    ]
    assert not circles, f"import circles: {circles}"


def test_catalog_imports_no_other_app():
    graph = import_graph()
    wrong = sorted(
        (m, t)
        for m, t in graph.edges
        if m.startswith("catalog.") and t.split(".")[0] in {"profiling", "lineage", "governance"}
    )
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("app", "may_not_import"),
    [("profiling", {"lineage", "governance"}), ("lineage", {"profiling", "governance"})],
)
def test_layers_point_one_way(app, may_not_import):
    graph = import_graph()
    wrong = sorted(
        (m, t) for m, t in graph.edges if m.startswith(app + ".") and t.split(".")[0] in may_not_import
    )
    assert not wrong, wrong


def test_no_import_error_guard_around_own_apps():
    guarded = []
    for path in production_files():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Try):
                continue
            catches = any(
                h.type is not None
                and ("ImportError" in ast.unparse(h.type) or "ModuleNotFoundError" in ast.unparse(h.type))
                for h in node.handlers
            )
            if not catches:
                continue
            for inner in node.body:
                for sub in ast.walk(inner):
                    mod = None
                    if isinstance(sub, ast.ImportFrom):
                        mod = sub.module or ""
                    elif isinstance(sub, ast.Import):
                        mod = sub.names[0].name
                    if mod is not None and mod.split(".")[0] in APPS:
                        guarded.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert not guarded, f"except ImportError around the project's own apps: {guarded}"
