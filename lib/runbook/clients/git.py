"""git, on a local clone of the Dealix repository: run one command (never prompting), and plan
the runbook's Git Revert (`git revert --no-edit <sha>` on the branch, then a push).

Planning refuses what would go wrong (not a repository, a dirty tree, an unknown sha, a sha
that is not on the branch, a merge commit without a mainline, a branch behind its remote) and
shows the exact diff the revert makes: the revert is done first in a throw-away worktree, so
the responder sees what will be pushed, conflicts included, before confirming.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runbook.core.errors import BadInput, ServiceUnavailable

GIT_TIMEOUT = 60.0   # seconds for one git command; a push to a slow remote fits
MAX_PREVIEW_CHARS = 20_000


@dataclass(frozen=True)
class GitResult:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def text(self) -> str:
        return (self.err or self.out).strip()


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> GitResult:
    """Run one git command in `repo`; never prompts (a push that needs a password fails)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        raise BadInput("git is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise ServiceUnavailable("git", f"`git {' '.join(args)}` took more than "
                                 f"{timeout:g}s") from None
    return GitResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class RevertPlan:
    repo: Path
    sha: str                 # the full sha of the commit to revert
    subject: str
    author: str
    parents: tuple[str, ...]
    branch: str
    remote: str
    mainline: int | None
    diff: str                # what the revert commit changes
    conflict: str = ""       # non-empty: the revert does not apply cleanly


def _check_repo(repo: Path) -> None:
    if not repo.is_dir():
        raise BadInput(f"the clone {repo} does not exist: pass repo_path (or set [git] "
                       "repo_path in the config) to a local clone of the Dealix repository")
    inside = git(repo, "rev-parse", "--is-inside-work-tree")
    if not inside.ok or inside.out.strip() != "true":
        raise BadInput(f"{repo} is not a git work tree: pass repo_path to a local clone")


def dirty_files(repo: Path) -> list[str]:
    """Tracked changes and untracked files: a revert here could commit or lose them."""
    status = git(repo, "status", "--porcelain", "--untracked-files=normal")
    return [line[3:] for line in status.out.splitlines() if line.strip()]


def _resolve_sha(repo: Path, sha: str) -> str:
    text = sha.strip()
    if not text or not all(c in "0123456789abcdefABCDEF" for c in text) or len(text) < 4:
        raise BadInput(f"{sha!r} is not a commit sha: give the bad commit's sha (at least 4 "
                       "hex digits), from `git log` or the Railway deployment's commit")
    found = git(repo, "rev-parse", "--verify", "--quiet", f"{text}^{{commit}}")
    if not found.ok:
        raise BadInput(f"commit {text} is not known in {repo}: check the sha, or run "
                       "`git fetch` there if it was pushed from elsewhere")
    return found.out.strip()


def plan_revert(repo_path: str | Path, sha: str, *, branch: str = "main",
                remote: str = "origin", mainline: int | None = None,
                fetch: bool = True) -> RevertPlan:
    """Check everything and compute the revert's diff; raises BadInput for what blocks it."""
    repo = Path(repo_path).expanduser()
    _check_repo(repo)
    dirty = dirty_files(repo)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise BadInput(f"the work tree {repo} has uncommitted changes ({shown}): commit or "
                       "stash them first, so the revert commits only the revert")
    full = _resolve_sha(repo, sha)
    if not git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").ok:
        raise BadInput(f"{repo} has no branch {branch!r}")
    if fetch and git(repo, "remote", "get-url", remote).ok:
        fetched = git(repo, "fetch", "--quiet", remote, branch)
        if not fetched.ok:
            raise ServiceUnavailable("git", f"`git fetch {remote} {branch}` failed: "
                                     f"{fetched.text()}")
        behind = git(repo, "rev-list", "--count", f"{branch}..{remote}/{branch}")
        if behind.ok and behind.out.strip() not in ("", "0"):
            raise BadInput(f"{branch} is {behind.out.strip()} commit(s) behind {remote}/{branch}:"
                           f" run `git checkout {branch} && git pull --ff-only` in {repo} first")
    if not git(repo, "merge-base", "--is-ancestor", full, branch).ok:
        raise BadInput(f"commit {full[:12]} is not on {branch}: reverting it there would not "
                       "undo anything; check the sha")
    info = git(repo, "show", "-s", "--format=%P%x00%s%x00%an <%ae>", full).out.rstrip("\n")
    parent_text, subject, author = [*info.split("\x00"), "", "", ""][:3]
    parents = tuple(parent_text.split())
    if len(parents) > 1 and mainline is None:
        raise BadInput(f"commit {full[:12]} is a merge of {len(parents)} parents: pass "
                       "mainline=1 to revert the merged branch's changes against the first "
                       f"parent ({parents[0][:12]}), or mainline=2 for the second")
    if mainline is not None and (len(parents) < 2 or not 1 <= mainline <= len(parents)):
        raise BadInput(f"mainline={mainline} does not fit commit {full[:12]}, which has "
                       f"{len(parents)} parent(s): a mainline is only for merge commits, "
                       f"1 to {len(parents)}" if len(parents) > 1 else
                       f"mainline={mainline} is only for merge commits; {full[:12]} is not one: "
                       "leave mainline empty")
    diff, conflict = _preview(repo, full, branch, mainline)
    return RevertPlan(repo, full, subject, author, parents, branch, remote, mainline, diff,
                      conflict)


@contextlib.contextmanager
def _scratch_worktree(repo: Path, branch: str) -> Iterator[Path]:
    """A detached worktree at the branch's tip, removed afterwards with its admin files."""
    base = Path(tempfile.mkdtemp(prefix="runbook-revert-"))
    tree = base / "tree"
    try:
        added = git(repo, "worktree", "add", "--detach", "--quiet", str(tree), branch)
        if not added.ok:
            raise ServiceUnavailable("git", f"could not make a scratch worktree: {added.text()}")
        yield tree
    finally:
        git(repo, "worktree", "remove", "--force", str(tree))
        git(repo, "worktree", "prune")
        shutil.rmtree(base, ignore_errors=True)


def revert_args(sha: str, mainline: int | None) -> list[str]:
    return ["revert", "--no-edit", *(["-m", str(mainline)] if mainline else []), sha]


def _preview(repo: Path, sha: str, branch: str, mainline: int | None) -> tuple[str, str]:
    """(diff of the revert commit, conflict text): the revert, done where it cannot hurt."""
    with _scratch_worktree(repo, branch) as tree:
        done = git(tree, "-c", "user.name=runbook preview", "-c",
                   "user.email=runbook@localhost", *revert_args(sha, mainline))
        if not done.ok and "nothing to commit" in (done.out + done.err):
            git(tree, "revert", "--abort")
            return "", (f"reverting {sha[:12]} changes nothing on {branch}: its changes are "
                        "already undone there")
        if not done.ok:
            conflicts = git(tree, "diff", "--name-only", "--diff-filter=U").out.split()
            git(tree, "revert", "--abort")
            what = ", ".join(conflicts) if conflicts else done.text()
            return "", f"the revert does not apply cleanly on {branch}: conflicts in {what}"
        shown = git(tree, "show", "--stat", "--patch", "--format=%s%n%n%b", "HEAD").out
    if len(shown) > MAX_PREVIEW_CHARS:
        shown = shown[:MAX_PREVIEW_CHARS] + f"\n… ({len(shown) - MAX_PREVIEW_CHARS} more chars)"
    return shown, ""
