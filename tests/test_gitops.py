"""The runbook's Git Revert path against real repositories: a bare origin and a local clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate_fixtures import GIT_ENV, commit_file, origin_and_clone, sh_git, start_session
from runbook.sections import rollback_revert
from runbook.sections.kit import actions


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, str]:
    origin, clone = origin_and_clone(tmp_path)
    bad = commit_file(clone, "app.py", "VERSION = 2  # breaks checkout\n", "bump version")
    sh_git(clone, "push", "-q", "origin", "main")
    return origin, clone, bad


def test_dry_run_shows_the_diff_and_changes_nothing(tmp_path: Path,
                                                     repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    rb = start_session(tmp_path)
    action = rollback_revert.revert_action(clone, bad[:10])
    assert not action.blocked
    assert "-VERSION = 2  # breaks checkout" in action.preview
    assert "+VERSION = 1" in action.preview
    assert 'Revert "bump version"' in action.preview
    assert "git push origin main" in action.plan
    result = actions.run(rb, action)
    assert result.status == actions.DRY_RUN
    assert sh_git(origin, "rev-parse", "main") == bad
    assert sh_git(clone, "rev-parse", "HEAD") == bad
    assert sh_git(clone, "worktree", "list").count("\n") == 0  # the scratch tree is gone
    assert rb.actions[-1]["dry_run"] is True


def test_confirmed_revert_pushes_once(tmp_path: Path, repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    rb = start_session(tmp_path)
    result = actions.run(rb, rollback_revert.revert_action(clone, bad), confirm=True)
    assert result.status == actions.SUCCEEDED, result.summary
    head = sh_git(origin, "rev-parse", "main")
    assert head != bad
    assert sh_git(origin, "show", "main:app.py") == "VERSION = 1"
    assert sh_git(origin, "log", "-1", "--format=%s", "main") == 'Revert "bump version"'
    assert [s["step"].split(" ")[0:2] for s in result.steps][1:4] == [
        ["git", "checkout"], ["git", "revert"], ["revert", "commit"]]
    # Run again in the same incident: the plan is for the same sha, so nothing happens.
    again = actions.run(rb, rollback_revert.revert_action(clone, bad), confirm=True)
    assert again.status == actions.ALREADY_DONE
    assert sh_git(origin, "rev-parse", "main") == head


def test_dirty_tree_is_refused(tmp_path: Path, repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    (clone / "app.py").write_text("VERSION = 3\n")
    rb = start_session(tmp_path)
    action = rollback_revert.revert_action(clone, bad)
    assert action.blocked and "uncommitted changes (app.py)" in action.blocked
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.BLOCKED
    assert sh_git(origin, "rev-parse", "main") == bad
    assert (clone / "app.py").read_text() == "VERSION = 3\n"


def test_tree_dirtied_after_the_plan_is_refused_at_execution(
        tmp_path: Path, repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    rb = start_session(tmp_path)
    action = rollback_revert.revert_action(clone, bad)
    (clone / "notes.txt").write_text("scratch\n")
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.FAILED and "uncommitted" in result.summary
    assert sh_git(origin, "rev-parse", "main") == bad


@pytest.mark.parametrize("sha, message", [
    ("0123456789abcdef0123456789abcdef01234567", "is not known"),
    ("not-a-sha", "is not a commit sha"),
])
def test_unknown_sha_is_refused(repos: tuple[Path, Path, str], sha: str, message: str) -> None:
    _, clone, _ = repos
    action = rollback_revert.revert_action(clone, sha)
    assert message in action.blocked


def test_merge_commit_needs_a_mainline(tmp_path: Path, repos: tuple[Path, Path, str]) -> None:
    origin, clone, _ = repos
    sh_git(clone, "checkout", "-q", "-b", "feature")
    commit_file(clone, "feature.py", "FEATURE = True\n", "add feature")
    sh_git(clone, "checkout", "-q", "main")
    commit_file(clone, "other.py", "X = 1\n", "other work")
    sh_git(clone, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    sh_git(clone, "push", "-q", "origin", "main")
    merge = sh_git(clone, "rev-parse", "HEAD")
    blocked = rollback_revert.revert_action(clone, merge)
    assert "merge of 2 parents" in blocked.blocked and "mainline=1" in blocked.blocked
    rb = start_session(tmp_path)
    result = actions.run(rb, rollback_revert.revert_action(clone, merge, mainline=1), confirm=True)
    assert result.status == actions.SUCCEEDED, result.summary
    assert "feature.py" not in sh_git(origin, "ls-tree", "--name-only", "main")
    assert "other.py" in sh_git(origin, "ls-tree", "--name-only", "main")
    wrong = rollback_revert.revert_action(clone, sh_git(clone, "rev-parse", f"{merge}^1"),
                                          mainline=1)
    assert "only for merge commits" in wrong.blocked
    undone = rollback_revert.revert_action(clone, merge, mainline=1)
    assert "already undone" in undone.blocked


def test_a_revert_that_conflicts_is_blocked(repos: tuple[Path, Path, str]) -> None:
    _, clone, bad = repos
    commit_file(clone, "app.py", "VERSION = 3\n", "bump again")
    sh_git(clone, "push", "-q", "origin", "main")
    action = rollback_revert.revert_action(clone, bad)
    assert "conflicts in app.py" in action.blocked
    assert sh_git(clone, "status", "--porcelain") == ""


def test_a_refused_push_leaves_the_clone_as_it_was(tmp_path: Path,
                                                   repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    rb = start_session(tmp_path)
    action = rollback_revert.revert_action(clone, bad)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = actions.run(rb, action, confirm=True)
    assert result.status == actions.FAILED
    assert any(f.code == "git.push_failed" for f in result.findings)
    assert sh_git(clone, "rev-parse", "HEAD") == bad
    assert sh_git(origin, "rev-parse", "main") == bad


def test_behind_the_remote_is_refused(tmp_path: Path, repos: tuple[Path, Path, str]) -> None:
    origin, clone, bad = repos
    other = tmp_path / "other"
    sh_git(tmp_path, "clone", "-q", str(origin), str(other))
    commit_file(other, "b.py", "B = 1\n", "someone else's fix")
    sh_git(other, "push", "-q", "origin", "main")
    action = rollback_revert.revert_action(clone, bad)
    assert "behind origin/main" in action.blocked and "pull --ff-only" in action.blocked


def test_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    blocked = rollback_revert.revert_action(tmp_path / "plain", "abcd").blocked
    assert "not a git work tree" in blocked
    assert "does not exist" in rollback_revert.revert_action(tmp_path / "nope", "abcd").blocked
