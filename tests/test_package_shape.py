"""The package's shape, pinned: a folder per role, no import cycles, no module named like the
standard library's, a top level small enough to read, and a notebook-facing API that is written
down (`__all__`) and is all the notebooks use."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "runbook"
NOTEBOOKS = ROOT / "notebooks"
MAX_TOP_LEVEL_MODULES = 25


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every `runbook` module that `name` imports, at any depth (function-level imports too,
    since they are cycles all the same, only hidden). `from runbook.a import b` counts as
    importing `runbook.a.b` when that is a module, else `runbook.a`."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("runbook") and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The layers, lowest first: a module may import its own layer and those below it, never above.
# The archive stores bytes and knows no meaning: it sits below the checks and the incident.
LAYERS = ("core", "clients", "archive", "checks", "incident", "sections", "host")
# The drill stands beside the host (`runbook drill` starts it; it runs notebooks as the host does).
SAME_LAYER = {"drill": "host"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    layer = parts[1] if len(parts) > 1 else ""
    return SAME_LAYER.get(layer, layer) if SAME_LAYER.get(layer, layer) in LAYERS else ""


def arrows_against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: index for index, name in enumerate(LAYERS)}
    wrong = []
    for module, deps in graph.items():
        own = layer_of(module)
        for dep in deps:
            other = layer_of(dep)
            if own in rank and other in rank and rank[other] > rank[own]:
                wrong.append(f"{module} -> {dep}")
    return sorted(wrong)


def test_every_module_sits_in_a_layer() -> None:
    loose = [name for name in import_graph() if name != "runbook" and not layer_of(name)]
    assert loose == []


def test_imports_point_down_the_layers() -> None:
    assert arrows_against_the_layers(import_graph()) == []


def test_the_layer_check_sees_an_arrow_up() -> None:
    graph = {"runbook.archive.seal": {"runbook.checks.deploys", "runbook.core.clock"},
             "runbook.checks.deploys": {"runbook.core.clock"}}
    assert arrows_against_the_layers(graph) == ["runbook.archive.seal -> runbook.checks.deploys"]


SECTIONS = ("sev1_response", "api_404", "webhook_401", "db_refused", "error_spike", "rollback",
            "comms", "monitoring_check", "postmortem")


def test_each_notebook_has_its_section_module() -> None:
    notebooks = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert notebooks == sorted(SECTIONS)
    for name in notebooks:
        assert (PACKAGE / "sections" / f"{name}.py").is_file() or \
            (PACKAGE / "sections" / name / "__init__.py").is_file(), name


def test_the_top_level_is_small() -> None:
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def test_no_module_is_named_like_a_standard_library_module() -> None:
    clashes = sorted(name for name in modules()
                     if name.rpartition(".")[2] in sys.stdlib_module_names)
    assert clashes == []


def test_clients_never_import_findings_or_display() -> None:
    graph = import_graph()
    forbidden = ("runbook.core.findings", "runbook.checks", "runbook.sections")
    wrong = {name: sorted(d for d in deps if d.startswith(forbidden))
             for name, deps in graph.items()
             if name.startswith("runbook.clients") and any(d.startswith(forbidden) for d in deps)}
    assert wrong == {}


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def runbook_names_used(tree: ast.Module) -> set[tuple[str, str]]:
    """(module, name) for each `runbook` name a notebook's code uses: `from runbook.m import n`,
    and `m.n` after `from runbook import m` or `import runbook.m`."""
    used: set[tuple[str, str]] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runbook"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                try:
                    importlib.import_module(submodule)
                except ImportError:
                    used.add((node.module or "", alias.name))
                else:
                    aliases[alias.asname or alias.name] = submodule
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("runbook."):
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = ast.unparse(node.value)
            if owner in aliases:
                used.add((aliases[owner], node.attr))
    return used


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_use_only_exported_names(notebook: str) -> None:
    used = runbook_names_used(ast.parse(notebook_code(NOTEBOOKS / notebook)))
    assert used, "the notebook uses the library"
    missing = []
    for module_path, name in sorted(used):
        module = importlib.import_module(module_path)
        exported = getattr(module, "__all__", None)
        if exported is None or name not in exported:
            missing.append(f"{module_path}.{name}")
    assert missing == [], "not in the module's __all__"


def test_every_notebook_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    # The notebook generators (tools/make_<section>.py; tools also makes the config's docs).
    generators = sorted(p.stem for p in (ROOT / "tools").glob("make_*.py")
                        if p.stem.removeprefix("make_") in SECTIONS)
    # Each generator as `python -m tools.NAME` runs it, all in one clean interpreter: nine
    # would each pay for importing nbformat again.
    each_as_main = ("import runpy, sys\n"
                    "for name in sys.argv[1:]:\n"
                    "    runpy.run_module(f'tools.{name}', run_name='__main__', alter_sys=True)\n")
    subprocess.run([sys.executable, "-c", each_as_main, *generators], cwd=tmp_path, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    made = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    committed = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert made == committed and len(made) == 9
    changed = [name for name in made
               if (tmp_path / "notebooks" / name).read_bytes() != (NOTEBOOKS / name).read_bytes()]
    assert changed == [], "run `python -m tools.make_NAME` and commit the notebook"
