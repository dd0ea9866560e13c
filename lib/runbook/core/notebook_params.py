"""Notebook parameters: read the `parameters` cell, and check `-p NAME VALUE` against it
before any kernel starts. Values arrive as strings from the command line and are coerced to
the declared type (the cell's annotation, else the type of its default)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.core.errors import BadInput, ParameterError
from runbook.core.redaction import SecretRegistry

if TYPE_CHECKING:
    # imported where used: a kernel that never reads or writes a notebook skips nbformat
    # (and jsonschema, which it imports): a tenth of its start
    import nbformat

# `name: type = value  # help` or `name = value  # help`
_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*(?::\s*(?P<type>[^=]+?))?\s*=\s*(?P<value>.+?)"
                   r"\s*(?:#\s*(?P<help>.*))?$")
_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Parameter:
    name: str
    type_name: str     # str, int, float or bool
    default: Any
    help: str


def read_notebook(path: Path) -> nbformat.NotebookNode:
    import nbformat

    try:
        nb: nbformat.NotebookNode = nbformat.read(str(path), as_version=4)
        return nb
    except FileNotFoundError:
        raise BadInput(f"notebook {path} not found") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a broken file
        raise BadInput(f"notebook {path} is not a valid .ipynb: {exc}") from None


def parameters_cell_index(nb: nbformat.NotebookNode) -> int:
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return index
    return -1


def declared_parameters(nb: nbformat.NotebookNode, where: str = "notebook") -> dict[str, Parameter]:
    index = parameters_cell_index(nb)
    if index < 0:
        raise BadInput(f"{where} has no cell tagged 'parameters'")
    result: dict[str, Parameter] = {}
    for line in str(nb.cells[index].source).splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        try:
            default = ast.literal_eval(match["value"])
        except (ValueError, SyntaxError):
            continue
        declared = (match["type"] or "").strip()
        type_name = declared if declared in _TYPES else type(default).__name__
        if type_name not in _TYPES:
            type_name = "str"
        result[match["name"]] = Parameter(match["name"], type_name, default,
                                          (match["help"] or "").strip())
    return result


def coerce(parameter: Parameter, raw: str) -> Any:
    """The command line's string as the parameter's type; ParameterError names both."""
    text = raw.strip()
    try:
        if parameter.type_name == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if parameter.type_name == "int":
            return int(text)
        if parameter.type_name == "float":
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value
    except ValueError:
        raise ParameterError(f"parameter {parameter.name} expects {parameter.type_name}, "
                             f"got {raw[:60]!r}") from None
    return raw


def validate(declared: dict[str, Parameter], given: list[tuple[str, str]],
             secrets: SecretRegistry) -> dict[str, Any]:
    """Check names, types and secrets of `-p NAME VALUE` pairs; return the coerced values.

    A value that holds a registered secret is refused: parameters are archived, so secrets
    are passed by the NAME of their environment variable, never by value.
    """
    values: dict[str, Any] = {}
    for name, raw in given:
        if name not in declared:
            accepted = ", ".join(sorted(declared)) or "(none)"
            raise ParameterError(f"unknown parameter {name!r}; this notebook accepts: {accepted}")
        secret_name = secrets.contains_secret(raw)
        if secret_name:
            raise ParameterError(
                f"parameter {name} holds the value of the secret ${secret_name}; secrets are "
                "never passed as parameters: put the env var's NAME in the config instead")
        values[name] = coerce(declared[name], raw)
    return values
