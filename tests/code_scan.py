"""Which finding codes the library's source can emit, read from its syntax tree.

A code is the first argument of a finding constructor (`passed`, `failed`, `errored`,
`skipped`, `guarded`, `Finding`) or the name of an `Action` (its run reports a finding under
that name), or a key of the checks given to `run_concurrently` (the code an error is reported
under). The argument is read through literals, conditional expressions, f-strings with one hole,
local and module-level assignments, imported constants, and the parameters of the library's
own helpers that pass it on (`_blocked(name, target, code, reason)`), to a fixed point. What
cannot be read (an attribute, a table lookup) is listed in `unresolved`, for the test to
enumerate from the table it comes from."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import runbook

# The package the tests import (lib/runbook here; src/runbook in a mutation run's copy).
PACKAGE = Path(runbook.__file__).resolve().parent

# The finding constructors, and Action (its name is the code of the finding its run reports):
# the argument that is the code, by position and name.
CONSTRUCTORS = {
    ("runbook.core.findings", "passed"): (0, "code"),
    ("runbook.core.findings", "failed"): (0, "code"),
    ("runbook.core.findings", "errored"): (0, "code"),
    ("runbook.core.findings", "skipped"): (0, "code"),
    ("runbook.core.findings", "guarded"): (0, "code"),
    ("runbook.core.findings", "Finding"): (0, "code"),
    ("runbook.sections.kit.actions", "Action"): (0, "name"),
}
KEYED_BY_CODE = {("runbook.core.concurrency", "run_concurrently")}   # its first argument


@dataclass(frozen=True)
class Template:
    """A code made from a parameter of the enclosing function: `form` holds one `{}`."""
    param: str
    form: str = "{}"


@dataclass(frozen=True)
class CodeParam:
    position: int         # -1: keyword only
    param: str
    form: str             # what the code is, `{}` standing for the argument
    origin: str           # the constructor it reaches ("failed", "Action"…)


@dataclass
class Module:
    name: str
    tree: ast.Module
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)   # local → (module, name)
    modules: dict[str, str] = field(default_factory=dict)                # local → module


Scopes = tuple[ast.FunctionDef, ...]   # innermost last


def load(package: Path) -> dict[str, Module]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        module = Module(name, ast.parse(path.read_text(encoding="utf-8")))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef):
                module.functions.setdefault(node.name, node)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    module.imported[local] = (node.module, alias.name)
                    module.modules[local] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.modules[alias.asname or alias.name] = alias.name
        found[name] = module
    return found


def params(scope: ast.FunctionDef) -> list[str]:
    return [a.arg for a in scope.args.posonlyargs + scope.args.args + scope.args.kwonlyargs]


def assigned(scope: ast.AST, name: str) -> list[ast.expr | None]:
    """The values `name` is given directly in `scope` (None: from something not a literal
    tuple, or as a loop variable)."""
    values: list[ast.expr | None] = []
    for node in ast.walk(scope):
        pairs: list[tuple[ast.expr, ast.expr | None]] = []
        if isinstance(node, ast.Assign):
            pairs = [(target, node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = [(node.target, node.value)]
        elif isinstance(node, ast.For | ast.comprehension):
            pairs = [(node.target, None)]
        for target, value in pairs:
            if isinstance(target, ast.Name) and target.id == name:
                values.append(value)
            elif isinstance(target, ast.Tuple):
                for index, element in enumerate(target.elts):
                    if isinstance(element, ast.Name) and element.id == name:
                        values.append(value.elts[index] if isinstance(value, ast.Tuple)
                                      else None)
    return values


class Scan:
    def __init__(self, package: Path = PACKAGE) -> None:
        self.modules = load(package)
        self.code_params: dict[tuple[str, str], set[CodeParam]] = {
            key: {CodeParam(position, param, "{}", key[1])}
            for key, (position, param) in CONSTRUCTORS.items()}
        self.codes: dict[str, set[str]] = {}                  # code → modules that emit it
        self.origins: dict[str, set[str]] = {}                # code → constructors it reaches
        self.unresolved: set[tuple[str, str]] = set()         # (module.function, expression)

    def callee(self, module: Module, func: ast.expr) -> tuple[str, str] | None:
        if isinstance(func, ast.Name):
            if func.id in module.functions:
                return module.name, func.id
            return module.imported.get(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.value.id in module.modules:
            return module.modules[func.value.id], func.attr
        return None

    def values(self, module: Module, scopes: Scopes, expr: ast.expr,
               depth: int = 0) -> tuple[set[str | Template], set[str]]:
        """What `expr` can be: literal codes, and templates over the innermost scope's
        parameters; and the source of what could not be read."""
        if depth > 8:
            return set(), {ast.unparse(expr)}
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}, set()
        if isinstance(expr, ast.IfExp):
            a, ua = self.values(module, scopes, expr.body, depth + 1)
            b, ub = self.values(module, scopes, expr.orelse, depth + 1)
            return a | b, ua | ub
        if isinstance(expr, ast.Name):
            return self._name(module, scopes, expr.id, depth)
        if isinstance(expr, ast.JoinedStr):
            holes = [p for p in expr.values if isinstance(p, ast.FormattedValue)]
            if len(holes) == 1:
                at = expr.values.index(holes[0])
                prefix = "".join(str(p.value) for p in expr.values[:at]
                                 if isinstance(p, ast.Constant))
                suffix = "".join(str(p.value) for p in expr.values[at + 1:]
                                 if isinstance(p, ast.Constant))
                found, unread = self.values(module, scopes, holes[0].value, depth + 1)
                if found and not unread:
                    return {prefix + v + suffix if isinstance(v, str) else
                            Template(v.param, prefix + v.form + suffix) for v in found}, set()
        return set(), {ast.unparse(expr)}

    def _name(self, module: Module, scopes: Scopes, name: str, depth: int
              ) -> tuple[set[str | Template], set[str]]:
        for level in range(len(scopes) - 1, -1, -1):
            scope = scopes[level]
            if name in params(scope):
                return ({Template(name)}, set()) if level == len(scopes) - 1 \
                    else (set(), {name})
            given = assigned(scope, name)
            if given:
                return self._union(module, scopes[:level + 1], given, name, depth)
        given = [v for node in module.tree.body for v in assigned(node, name)
                 if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
        if given:
            return self._union(module, (), given, name, depth)
        if name in module.imported and module.imported[name][0] in self.modules:
            source, original = module.imported[name]
            return self._name(self.modules[source], (), original, depth + 1)
        return set(), {name}

    def _union(self, module: Module, scopes: Scopes, given: list[ast.expr | None], name: str,
               depth: int) -> tuple[set[str | Template], set[str]]:
        found: set[str | Template] = set()
        unread: set[str] = set()
        for value in given:
            if value is None:
                unread.add(name)
                continue
            v, u = self.values(module, scopes, value, depth + 1)
            found |= v
            unread |= u
        return found, unread

    def calls(self) -> Iterator[tuple[Module, Scopes, ast.Call]]:
        for module in self.modules.values():
            yield from self._calls(module, module.tree, ())

    def _calls(self, module: Module, node: ast.AST, scopes: Scopes
               ) -> Iterator[tuple[Module, Scopes, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            inner = (*scopes, child) if isinstance(child, ast.FunctionDef) else scopes
            if isinstance(child, ast.Call):
                yield module, scopes, child
            yield from self._calls(module, child, inner)

    def run(self) -> Scan:
        while True:
            self.codes, self.origins, self.unresolved = {}, {}, set()
            before = sum(len(v) for v in self.code_params.values())
            for module, scopes, call in self.calls():
                self._call(module, scopes, call)
            if sum(len(v) for v in self.code_params.values()) == before:
                return self

    def _call(self, module: Module, scopes: Scopes, call: ast.Call) -> None:
        target = self.callee(module, call.func)
        where = f"{module.name}.{scopes[-1].name if scopes else '<module>'}"
        if target in KEYED_BY_CODE and call.args:
            self._keys(module, scopes, call.args[0], where)
        for code_param in list(self.code_params.get(target, ()) if target else ()):
            position = code_param.position
            arg = (call.args[position] if 0 <= position < len(call.args) else
                   next((k.value for k in call.keywords if k.arg == code_param.param), None))
            if arg is None:
                continue
            found, unread = self.values(module, scopes, arg)
            self.unresolved |= {(where, u) for u in unread}
            for value in found:
                if isinstance(value, str):
                    code = code_param.form.format(value)
                    self.codes.setdefault(code, set()).add(module.name)
                    self.origins.setdefault(code, set()).add(code_param.origin)
                    continue
                scope = scopes[-1]
                positional = [a.arg for a in scope.args.posonlyargs + scope.args.args]
                self.code_params.setdefault((module.name, scope.name), set()).add(CodeParam(
                    positional.index(value.param) if value.param in positional else -1,
                    value.param, code_param.form.format(value.form), code_param.origin))

    def _keys(self, module: Module, scopes: Scopes, arg: ast.expr, where: str) -> None:
        dicts: list[ast.Dict] = []
        candidates: list[ast.expr | None] = [arg]
        if isinstance(arg, ast.Name) and scopes:
            candidates = list(assigned(scopes[-1], arg.id))
        for value in candidates:
            if isinstance(value, ast.Dict):
                dicts.append(value)
            elif isinstance(value, ast.Call):
                made = self.callee(module, value.func)
                if made and made[0] == module.name:
                    dicts += [n.value for n in ast.walk(module.functions[made[1]])
                              if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict)]
        if not dicts:
            self.unresolved.add((where, ast.unparse(arg)))
        for made_dict in dicts:
            for key in made_dict.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.codes.setdefault(key.value, set()).add(module.name)
                    self.origins.setdefault(key.value, set()).add("run_concurrently")
                else:
                    self.unresolved.add((where, ast.unparse(key) if key else "**"))
