"""The library uses other packages through their public APIs only.

A name with one leading underscore is another package's internal: a minor release may rename
or drop it. Where no public API does the job, the private use lives in one adapter module per
package (lib/runbook/core/adapters/), whose own tests pin the version it was checked against.

The scan is syntactic and errs on the side of precision; it flags, outside the adapters:
- `from other import _name`;
- `other._name` where `other` was imported from another package (`argparse._SubParsersAction`);
- `value._name` (`super()._name` too) and `getattr(value, "_name")` where the library
  defines no `_name` of its own (`shell._showtraceback`, `self._pool._network_backend`);
- a method `_name` of a class derived from another package's class that overrides that
  class's own `_name` (a private hook).
Names that are public by documented convention (IPython's display protocol `_repr_*_`,
namedtuple's `_replace`/`_asdict`/`_fields`/`_make`, `os._exit`, `sys._getframe`) are not
private.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "runbook"
ADAPTERS = PACKAGE / "core" / "adapters"
OWN = "runbook"

PUBLIC_BY_CONVENTION = {"_replace", "_asdict", "_fields", "_make", "_field_defaults", "_exit",
                        "_getframe", "_ipython_display_", "_ipython_key_completions_"}
DISPLAY_PROTOCOL = re.compile(r"^_repr_[a-z_]+_$")


def is_private(name: str) -> bool:
    return (name.startswith("_") and not name.startswith("__")
            and name not in PUBLIC_BY_CONVENTION and not DISPLAY_PROTOCOL.match(name))


def library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if ADAPTERS not in p.parents)


def own_private_names(files: list[Path]) -> set[str]:
    """Private names the library defines: at module level, in a class body, or on `self`/`cls`.
    A function's local helper (`def _hook` assigned onto another package's object) is not one."""
    names: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scopes: list[list[ast.stmt]] = [tree.body]
        scopes += [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for body in scopes:
            for stmt in body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(stmt.name)
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for target in targets:
                        for node in ast.walk(target):
                            if isinstance(node, ast.Name):
                                names.add(node.id)
                elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    names.update(a.asname or a.name for a in stmt.names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
    return {n for n in names if n.startswith("_")}


def foreign_imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> the other package's module it was imported from."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != OWN:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] != OWN:
            for alias in node.names:
                bound[alias.asname or alias.name] = node.module
    return bound


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(path: Path, own: set[str]) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    foreign = foreign_imports(tree)
    where = path.relative_to(ROOT) if ROOT in path.parents else path.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] != OWN:
            for alias in node.names:
                if is_private(alias.name):
                    yield f"{where}:{node.lineno}: from {node.module} import {alias.name}"
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in foreign:
                yield f"{where}:{node.lineno}: {node.value.id}.{node.attr}"
            elif node.attr not in own:
                yield f"{where}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and is_private(node.args[1].value) \
                and node.args[1].value not in own:
            yield f"{where}:{node.lineno}: {node.func.id}(…, {node.args[1].value!r})"


def overridden_hooks(path: Path) -> Iterator[str]:
    """Methods named `_x` of library classes that override another package's own `_x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    module_name = module_name.removesuffix(".__init__")
    foreign = foreign_imports(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(root_name(base) in foreign for base in node.bases):
            continue
        methods = [s.name for s in node.body
                   if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_private(s.name)]
        if not methods:
            continue
        module = importlib.import_module(module_name)
        cls = getattr(module, node.name, None)
        if not isinstance(cls, type):  # a class made inside a function: judge by the bases
            yield from (f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}.{m} (base unknown)"
                        for m in methods)
            continue
        for base in cls.__mro__[1:]:
            if base.__module__.split(".")[0] == OWN:
                continue
            for name in methods:
                if name in vars(base):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}.{name} " \
                          f"overrides {base.__module__}.{base.__qualname__}.{name}"
            break


@pytest.mark.slow
def test_no_private_name_of_another_package_outside_the_adapters() -> None:
    files = library_files()
    own = own_private_names(files)
    found = [use for path in files for use in private_uses(path, own)]
    found += [use for path in files for use in overridden_hooks(path)]
    assert not found, (
        "another package's private names used outside lib/runbook/core/adapters/ (use a public "
        "API, or move the use into that package's adapter, with a version-pin test):\n"
        + "\n".join(found))


def test_the_scan_sees_each_kind_of_private_use(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "import argparse\n"
        "from papermill.iorw import papermill_io, _private\n"
        "from runbook.core import impact\n"
        "_OWN = 1\n"
        "class Own:\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "    def _helper(self):\n"
        "        return self._mine + impact._OWN\n"
        "def use(shell, action, stream):\n"
        "    argparse._SubParsersAction\n"
        "    papermill_io._handlers\n"
        "    shell._showtraceback\n"
        "    getattr(stream, '_original_stdstream_copy', None)\n"
        "    action._repr_html_()\n"
        "    action.__class__\n", encoding="utf-8")
    found = {use.split(": ", 1)[1] for use in private_uses(module, own_private_names([module]))}
    assert found == {"from papermill.iorw import _private", "argparse._SubParsersAction",
                     "papermill_io._handlers", "shell._showtraceback",
                     "getattr(…, '_original_stdstream_copy')"}
