"""The package's layout holds: each outside service's protocol is spoken in one module, the
clients return data (never findings or displays), and no module imports itself in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "runbook"

# A marker of each protocol, and the one module (outside the drill) that speaks it.
PROTOCOLS = {
    "getMonitors": "clients/uptimerobot.py",
    "/events-stats/": "clients/sentry.py",
    "sentry_sdk": "clients/sentry.py",
    "/webhooks/attempts": "clients/moyasar.py",
    "smtplib": "clients/smtp.py",
    'json={"text"': "clients/slack.py",
    "no_service": "clients/slack.py",
    "/pages/": "clients/statuspage.py",
    "deploymentRollback(id": "clients/railway.py",
    "psycopg.connect": "sections/db_refused/probe.py",
    '["git"': "clients/git.py",
    "subprocess": None,   # checked below: git's subprocess calls stay in clients/git.py
}


def _modules() -> dict[str, str]:
    """Every module of the library outside the drill: path relative to the package → text."""
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8")
            for p in sorted(PACKAGE.rglob("*.py")) if "drill" not in p.relative_to(PACKAGE).parts}


@pytest.mark.parametrize("marker", [m for m, where in PROTOCOLS.items() if where])
def test_each_protocol_is_spoken_in_one_place(marker: str) -> None:
    speakers = [path for path, text in _modules().items() if marker in text]
    assert speakers == [PROTOCOLS[marker]]


def test_git_is_run_only_by_its_client() -> None:
    runs_git = [path for path, text in _modules().items()
                if "subprocess" in text and "git" in text.lower()
                and any(isinstance(node, ast.Constant) and node.value == "git"
                        for node in ast.walk(ast.parse(text)))]
    assert runs_git == ["clients/git.py"]


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Every module a tree imports, function-level imports included, as dotted names."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
