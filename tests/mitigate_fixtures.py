"""Helpers for the mitigation and communication tests: a real session on a written config,
and real git repositories (a bare `origin` and a clone with a few commits)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runbook.drill.target import to_toml
from runbook.sections.kit import session


def start_session(directory: Path, sections: dict[str, object] | None = None,
                  incident_id: str = "inc-test-1", notebook: str = "rollback"
                  ) -> session.Session:
    """An interactive-mode session (its own run dir under RUNBOOK_RUNS_DIR) on a config."""
    all_sections: dict[str, object] = {"service": {"name": "dealix",
                                                   "base_url": "http://127.0.0.1:9"}}
    all_sections.update(sections or {})
    config = directory / f"runbook-{incident_id}-{notebook}.toml"
    config.write_text(to_toml(all_sections), encoding="utf-8")
    return session.start(notebook, incident_id=incident_id, config_path=str(config))


GIT_ENV = {"GIT_AUTHOR_NAME": "Dealix Dev", "GIT_AUTHOR_EMAIL": "dev@dealix.test",
           "GIT_COMMITTER_NAME": "Dealix Dev", "GIT_COMMITTER_EMAIL": "dev@dealix.test"}


def sh_git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text, encoding="utf-8")
    sh_git(repo, "add", name)
    sh_git(repo, "commit", "-q", "-m", message)
    return sh_git(repo, "rev-parse", "HEAD")


def origin_and_clone(base: Path) -> tuple[Path, Path]:
    """A bare origin with main, and a clone of it; both real repositories."""
    origin = base / "origin.git"
    clone = base / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True,
                   capture_output=True)
    sh_git(clone, "checkout", "-q", "-b", "main")
    commit_file(clone, "app.py", "VERSION = 1\n", "first")
    sh_git(clone, "push", "-q", "origin", "main")
    return origin, clone
