"""Import boundaries of jman_core, read from the source with `ast` (nothing is imported): no import cycle, no
module importing a layer above its own, no streamlit in the library; and ruff clean (issue 18, requirement 3).
Imports inside functions count like those at the top of a module."""

from __future__ import annotations

import ast
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "jman_core"
PACKAGE_DIRECTORY = REPOSITORY_ROOT / PACKAGE

# The layers of jman_core, lowest first, following the data flow. A module may import modules of lower layers
# only; modules sharing a layer may not import one another, except the modules of one subpackage (workspace).
# Names are relative to jman_core; "workspace" stands for the package and every module under it, "__init__"
# for jman_core/__init__.py (the public facade, which loads parts of the library lazily).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version"),
    ("limits", "config"),
    ("text",),  # below data: data.py cleans fields with text.readable_text
    ("data",),
    ("embeddings", "domain"),
    ("semantics",),  # label similarity from the documents' tag sets (data, embeddings' stable hash)
    ("model",),
    ("options",),  # the options declared once, as flags, the app's form and the card (reads model.HEADS)
    ("losses",),
    ("metrics",),
    ("batching",),  # padded arrays and batches: what training, the linear part and the Predictor feed
    ("training",),
    ("linear",),  # the word-and-pair SVM, over the same padded token ids
    ("calibration",),  # a component's raw scores (network logits, SVM margins) to probabilities
    ("blend",),  # the calibrated components mixed
    ("checkpoint",),
    ("predict",),  # the Predictor: batches, the network, the SVM and their blend
    ("evaluation",),  # evaluates a Predictor
    ("baselines",),
    ("experiment",),  # trains the network, fits the SVM beside it and blends them
    ("jobs", "upload"),  # both start experiments
    ("workspace",),  # learning.py trains through jobs
    ("service",),
    ("cli",),  # `jman serve` runs the service
    ("__init__", "__main__"),
)
SUBPACKAGES = {"workspace"}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module names
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPOSITORY_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIRECTORY.rglob("*.py"))}


def imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement can load: `from X import y` names both X and X.y (y may be a
    module); relative imports are resolved against the module's package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [source] + [f"{source}.{alias.name}" for alias in node.names if alias.name != "*"]


def import_edges() -> list[Edge]:
    """Every import of one jman_core module by another, at any depth of the source (functions included)."""
    modules = package_modules()
    edges = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = imported_names(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                # `from package import submodule` loads the submodule; `from package import name` the package
                source, *members = names
                targets = [name for name in members if name in modules]
                if len(targets) < len(members) or not members:
                    targets.append(source)
            else:
                targets = names
            for name in targets:
                target = _known_prefix(name, modules)
                if target is not None and target != module:
                    edges.add(Edge(module, target, node.lineno))
    return sorted(edges, key=lambda edge: (edge.importer, edge.imported, edge.line))


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) if parts else None


def layer_entry(module: str) -> str:
    """The name under which LAYERS lists a dotted module name."""
    if module == PACKAGE:
        return "__init__"
    relative = module.removeprefix(PACKAGE + ".")
    top = relative.split(".")[0]
    return top if top in SUBPACKAGES else relative


def layer_of() -> dict[str, int]:
    return {name: index for index, layer in enumerate(LAYERS) for name in layer}


def cycles(edges: list[Edge]) -> list[list[Edge]]:
    """For every import that closes a cycle, the shortest such cycle (each once, from its first module)."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, []).append(edge)
    found: dict[tuple[str, ...], list[Edge]] = {}
    for edge in edges:
        path = _shortest_path(graph, edge.imported, edge.importer)
        if path is None:
            continue
        cycle = [edge] + path
        first = min(range(len(cycle)), key=lambda position: cycle[position].importer)
        cycle = cycle[first:] + cycle[:first]
        found.setdefault(tuple(step.importer for step in cycle), cycle)
    return [found[key] for key in sorted(found)]


def _shortest_path(graph: dict[str, list[Edge]], start: str, goal: str) -> list[Edge] | None:
    """The fewest imports leading from module `start` to module `goal` (breadth-first), or None."""
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            if node == goal:
                return paths[node]
            for edge in graph.get(node, []):
                if edge.imported not in paths:
                    paths[edge.imported] = paths[node] + [edge]
                    following.append(edge.imported)
        frontier = following
    return None


def test_the_import_reader_sees_relative_function_level_and_package_imports():
    edges = {(edge.importer, edge.imported) for edge in import_edges()}
    assert ("jman_core.data", "jman_core.text") in edges  # from .text import readable_text
    assert ("jman_core.jobs", "jman_core.experiment") in edges  # inside run_job
    assert ("jman_core.workspace.curation", "jman_core.workspace.schema") in edges  # from . import schema
    assert ("jman_core.workspace.curation", "jman_core.data") in edges  # from ..data import ...
    assert ("jman_core.__main__", "jman_core.cli") in edges


def test_the_cycle_finder_reports_each_cycle_once_with_its_lines():
    edges = [Edge("a", "b", 1), Edge("b", "c", 2), Edge("c", "a", 3), Edge("a", "d", 4), Edge("d", "e", 5)]
    assert cycles(edges) == [[Edge("a", "b", 1), Edge("b", "c", 2), Edge("c", "a", 3)]]
    assert cycles(edges[3:]) == []


def test_no_import_cycle_among_jman_core_modules():
    found = cycles(import_edges())
    assert not found, "import cycles in jman_core:\n" + "\n".join(
        "  " + "  =>  ".join(str(edge) for edge in cycle) for cycle in found
    )


def test_every_jman_core_module_has_a_layer_and_each_layer_is_named_once():
    names = [name for layer in LAYERS for name in layer]
    assert len(names) == len(set(names)), "a module is listed in two layers"
    missing = sorted({layer_entry(module) for module in package_modules()} - set(names))
    assert not missing, (
        f"modules without a layer (add them to LAYERS where their imports put them): {missing}"
    )


def test_nothing_imports_upwards():
    layers = layer_of()
    upward = []
    for edge in import_edges():
        importer, imported = layer_entry(edge.importer), layer_entry(edge.imported)
        if importer not in layers or imported not in layers or importer == imported:
            continue  # unlisted modules fail the test above; a subpackage's modules may import one another
        if layers[imported] > layers[importer]:
            upward.append(f"  {edge}: layer {layers[importer]} ({importer}) imports layer {layers[imported]}")
        elif layers[imported] == layers[importer]:
            upward.append(f"  {edge}: {importer} and {imported} share layer {layers[importer]}")
    assert not upward, "imports against the layer order (LAYERS in this file):\n" + "\n".join(upward)


def test_no_jman_core_module_imports_streamlit():
    found = []
    for module, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [
                f"  {module} (line {node.lineno}) imports {name}"
                for name in names
                if name.split(".")[0] == "streamlit"
            ]
    assert not found, "the library must not depend on the app's UI toolkit:\n" + "\n".join(found)


# ---- ruff --------------------------------------------------------------------------------------------------


def ruff_executable() -> str:
    try:
        from ruff.__main__ import find_ruff_bin

        return str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("ruff")
        if found is None:
            pytest.skip("the ruff executable is not installed (pip install -r requirements.txt)")
        return found


def run_ruff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ruff_executable(), *arguments],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_check_is_clean():
    result = run_ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_format_leaves_the_formatted_files_unchanged():
    result = run_ruff("format", "--check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"files ruff format would change:\n{result.stdout}{result.stderr}"
