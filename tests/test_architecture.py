"""The shape of the house: four wings with no import circles, a small root, a light
``import sara_core``, and one list of public names that all resolve."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sara_core", "sara_lab")
MAX_ROOT_MODULES = 12
MAX_FUNCTION_LINES = 80


def module_files() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its ``__init__``)."""
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, anywhere in the file (inside functions too), except
    under ``if TYPE_CHECKING``; importing ``a.b.c`` also imports the packages ``a`` and ``a.b``."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text())]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if _type_checking(child):
                    stack.extend(child.orelse)  # the else branch runs
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    for target in _imported(child, name, is_pkg):
                        parts = target.split(".")
                        while parts and ".".join(parts) not in files:
                            parts.pop()
                        edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                stack.append(child)
        graph[name] = {m for m in edges if m in files and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    edges = import_graph()
    assert "sara_core.models.names" in edges["sara_core.models.loading"]  # a top-level import
    assert "sara_core.steering.hooks" in edges["sara_core.steering.interface"]  # in a function


def test_the_root_holds_the_entry_points_and_what_every_wing_shares():
    modules = sorted(p.stem for p in (ROOT / "sara_core").glob("*.py"))
    assert len(modules) <= MAX_ROOT_MODULES, modules
    wings = {p.name for p in (ROOT / "sara_core").iterdir() if (p / "__init__.py").is_file()}
    assert {"steering", "engine", "models", "measures", "evaluation"} <= wings


def test_no_package_init_imports_its_modules():
    """A package's ``__init__`` holds a docstring (``sara_core``'s: a lazy list of names), so
    importing one module never runs its siblings."""
    for name, path in module_files().items():
        if path.name != "__init__.py" or name == "sara_core":
            continue
        body = ast.parse(path.read_text()).body
        assert all(isinstance(n, ast.Expr) for n in body), name


def test_no_function_is_too_long_to_read():
    long = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_import_sara_core_and_the_apps_settings_do_not_import_torch():
    code = (
        "import sys, sara_core, sara_core.models.names, sara_lab.settings\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'gradio') if m in sys.modules)\n"
        "print(heavy)"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves_from_its_home():
    code = (
        "import sara_core as sc\n"
        "for name in sc.__all__:\n"
        "    obj = getattr(sc, name)\n"
        "print(len(sc.__all__), sc.load_model.__module__, sc.SteeringConfig.__module__)"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    count, load_home, config_home = done.stdout.split()
    assert int(count) >= 30
    assert (load_home, config_home) == ("sara_core.models.loading", "sara_core.config")


@pytest.mark.parametrize("name", ["missing_name", "torch"])
def test_an_unknown_public_name_is_an_attribute_error(name):
    import sara_core

    with pytest.raises(AttributeError):
        getattr(sara_core, name)
