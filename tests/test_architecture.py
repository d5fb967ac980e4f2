"""The package's import graph: arrows run one way, and frameworks stay in their adapters.

The graph is read from the source with ``ast``: every ``import`` counts, also inside
functions (a lazy import is still a dependency), except those under
``if TYPE_CHECKING:`` (annotations only, never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flopmagic

PACKAGE = Path(flopmagic.__file__).parent
ROOT = "flopmagic"

# Third-party packages that are frameworks (or import one): only adapters/ and peers/ import them.
FRAMEWORKS = {
    "torch",
    "torchvision",
    "tensorflow",
    "keras",
    "onnx",
    "onnxruntime",
    "fvcore",
    "transformers",
    "tf_keras",
}
# Where framework code may live: each framework's adapter, and the wrapped peer counters
# (fvcore, FlopCounterMode, TensorFlow's profiler), which are backends of those adapters.
FRAMEWORK_HOMES = ("flopmagic.adapters.", "flopmagic.peers.")
# IPython is the magic's framework: only the magic imports it.
IPYTHON_HOMES = ("flopmagic.magic",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names this module imports (modules, or ``package.name`` for ``from package import name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> the package's modules it imports, module -> third-party top-level packages)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for module, path in paths.items():
        names = _imports(path, module)
        internal[module] = {n for n in names if n in paths and n != module}
        external[module] = {n.split(".")[0] for n in names if n.split(".")[0] != ROOT}
    return internal, external


GRAPH, EXTERNAL = _graph()


def test_the_graph_is_read():
    # guards against a walker that finds nothing (then every check below would pass)
    assert len(GRAPH) > 40
    assert "flopmagic.schema" in GRAPH["flopmagic.api"] or "flopmagic.engine" in GRAPH["flopmagic.api"]
    assert "torch" in EXTERNAL["flopmagic.adapters.torch.run_module"]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if colour.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in colour:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


def _without_parent_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A module importing its own package's ``__init__`` re-exports is not a dependency circle
    of logic; Python runs the package first anyway. Keep every other arrow."""
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def test_the_import_graph_is_acyclic():
    cycle = _cycle(_without_parent_packages(GRAPH))
    assert cycle is None, " -> ".join(cycle or ())


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_frameworks_are_imported_only_by_adapters_and_peers(module):
    if module == "flopmagic.adapters" or module.startswith(FRAMEWORK_HOMES):
        return
    assert not (EXTERNAL[module] & FRAMEWORKS), f"{module} imports {sorted(EXTERNAL[module] & FRAMEWORKS)}"
    if not module.startswith(IPYTHON_HOMES):
        assert "IPython" not in EXTERNAL[module], f"{module} imports IPython"
    adapters = {
        m for m in GRAPH[module] if m.startswith(FRAMEWORK_HOMES) and m.count(".") >= 2 and not m.endswith("._table")
    }
    assert not adapters, f"{module} imports framework adapters {sorted(adapters)}: go through the registry"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith(FRAMEWORK_HOMES)))
def test_adapters_do_not_import_the_package_face(module):
    assert ROOT not in GRAPH[module], f"{module} imports flopmagic/__init__ (use flopmagic._version)"


@pytest.mark.parametrize(
    "data, renderer",
    [
        ("flopmagic.schema", "flopmagic.render"),
        ("flopmagic.comparison", "flopmagic.render"),
        ("flopmagic.auditor", "flopmagic.render"),
        ("flopmagic.report", "flopmagic.render.report"),
        ("flopmagic.engine", "flopmagic.render"),
    ],
)
def test_data_objects_do_not_import_renderers(data, renderer):
    # they are drawn through flopmagic.display, which imports the renderers when asked
    assert not {m for m in GRAPH[data] if m == renderer or m.startswith(renderer + ".")}


@pytest.mark.parametrize("module", ["flopmagic.aggregate", "flopmagic.conventions", "flopmagic.conventions.presets"])
def test_pricing_and_views_do_not_import_the_profile(module):
    # ModelProfile.under and .by_* delegate one way: schema -> conventions, schema -> aggregate
    assert "flopmagic.schema" not in GRAPH[module]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("flopmagic.render")))
def test_renderers_import_results_only_for_type_checking(module):
    results = {"flopmagic.schema", "flopmagic.comparison", "flopmagic.auditor", "flopmagic.report"}
    assert not (GRAPH[module] & results), f"{module} imports {sorted(GRAPH[module] & results)}"
