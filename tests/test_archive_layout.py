"""The archive is one store: only `runbook/archive/` knows its file names and opens its paths,
and the archive's modules import one another without a cycle (function-level imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

import runbook

PACKAGE = Path(runbook.__file__).parent
ALLOWED = ("archive", "drill")        # the store and its façade; the drill builds fakes
NAMES = ("events.jsonl", "actions.jsonl", "chain.jsonl", "index.jsonl", "index.snapshot",
         "incident.json", "started.json", "record.json", "notebook.ipynb", ".archive.lock")
EXACT = ("locks", ".lock")
# Handles on places in the archive that must never be joined into a path outside it.
PATH_HANDLES = {"run_dir", "incident_dir", "index_path", "root"}


def outside_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.relative_to(PACKAGE).parts[0] not in ALLOWED)


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def handle_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def test_no_module_outside_the_archive_names_an_archive_file_or_joins_its_paths() -> None:
    offences = []
    for path in outside_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = docstrings(tree)
        where = path.relative_to(PACKAGE)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in skip \
                    and (any(name in node.value for name in NAMES) or node.value in EXACT):
                offences.append(f"{where}:{node.lineno}: {node.value!r}")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
                    and handle_name(node.left) in PATH_HANDLES:
                offences.append(f"{where}:{node.lineno}: a path joined under the archive")
            if isinstance(node, ast.Call) and handle_name(node.func) in ("glob", "rglob",
                                                                          "iterdir") \
                    and isinstance(node.func, ast.Attribute) \
                    and handle_name(node.func.value) in PATH_HANDLES:
                offences.append(f"{where}:{node.lineno}: the archive listed as a directory")
    assert offences == [], "go through runbook.archive (layout, store):\n" + "\n".join(offences)


def imports_of(path: Path) -> set[str]:
    """Every runbook module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("runbook"))
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("runbook"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found
