"""The runbook's Git Revert path, as a guarded action on a local clone:

    git checkout main
    git revert --no-edit <bad-commit-sha>
    git push origin main        # CI runs, the deploy is triggered automatically

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

from runbook.actions import Action, Outcome, StepLog
from runbook.core.config import Config
from runbook.core.errors import BadInput, ServiceUnavailable
from runbook.core.findings import Finding, failed, passed

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


def _revert_args(sha: str, mainline: int | None) -> list[str]:
    return ["revert", "--no-edit", *(["-m", str(mainline)] if mainline else []), sha]


def _preview(repo: Path, sha: str, branch: str, mainline: int | None) -> tuple[str, str]:
    """(diff of the revert commit, conflict text): the revert, done where it cannot hurt."""
    with _scratch_worktree(repo, branch) as tree:
        done = git(tree, "-c", "user.name=runbook preview", "-c",
                   "user.email=runbook@localhost", *_revert_args(sha, mainline))
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


def revert_action(repo_path: str | Path, sha: str, *, branch: str = "main",
                  remote: str = "origin", mainline: int | None = None) -> Action:
    """The guarded `git revert` + `git push`; blocked (with the reason) when it cannot be done."""
    name = "git.revert"
    try:
        plan = plan_revert(repo_path, sha, branch=branch, remote=remote, mainline=mainline)
    except (BadInput, ServiceUnavailable) as exc:
        where = Path(repo_path)
        return Action(name, f"{where} {branch}: revert {sha.strip()}", "", _never, blocked=str(exc),
                      findings=(failed("git.revert_blocked", str(exc), repo=str(where), sha=sha),))
    if plan.conflict:
        return Action(name, _target(plan), "", _never, details=_details(plan),
                      blocked=plan.conflict,
                      findings=(failed("git.revert_conflict", plan.conflict, sha=plan.sha),))
    m = f" -m {plan.mainline}" if plan.mainline else ""
    text = (f"in {plan.repo}: git checkout {plan.branch}; git revert --no-edit{m} "
            f"{plan.sha[:12]} (\"{plan.subject}\"); git push {plan.remote} {plan.branch} — "
            "the push starts CI and the deploy")
    return Action(name, _target(plan), text, lambda log: _execute(plan, log),
                  details=_details(plan), preview=plan.diff)


def revert_from_config(config: Config, sha: str, repo_path: str = "",
                       mainline: int | None = None) -> Action:
    """`revert_action` with the clone, remote and branch from `[git]` unless repo_path is given."""
    git_config = config.git
    repo = repo_path or (git_config.repo_path if git_config else "")
    if not repo:
        return Action("git.revert", f"(no clone): revert {sha}", "", _never,
                      blocked="no local clone named: pass repo_path or set [git] repo_path")
    return revert_action(repo, sha, branch=git_config.branch if git_config else "main",
                         remote=git_config.remote if git_config else "origin",
                         mainline=mainline)


def _target(plan: RevertPlan) -> str:
    return f"{plan.repo} {plan.branch}: revert {plan.sha}"


def _details(plan: RevertPlan) -> dict[str, str]:
    details = {"commit": plan.sha, "subject": plan.subject, "author": plan.author,
               "branch": plan.branch, "remote": plan.remote}
    if plan.mainline:
        details["mainline"] = str(plan.mainline)
    return details


def _never(log: StepLog) -> Outcome:  # pragma: no cover - a blocked action never executes
    raise BadInput("a blocked action cannot be executed")


def _execute(plan: RevertPlan, log: StepLog) -> Outcome:
    repo = plan.repo
    # Checked again at execution: the tree may have changed since the plan was shown.
    dirty = dirty_files(repo)
    if dirty:
        log.step("refused: the work tree has uncommitted changes", files=dirty[:10])
        return Outcome(False, f"not done: {repo} has uncommitted changes ({', '.join(dirty[:5])})")
    checkout = git(repo, "checkout", "--quiet", plan.branch)
    log.step(f"git checkout {plan.branch}", ok=checkout.ok)
    if not checkout.ok:
        return Outcome(False, f"git checkout {plan.branch} failed: {checkout.text()}")
    before = git(repo, "rev-parse", "HEAD").out.strip()
    reverted = git(repo, *_revert_args(plan.sha, plan.mainline))
    log.step(f"git revert --no-edit {plan.sha[:12]}", ok=reverted.ok)
    if not reverted.ok:
        git(repo, "revert", "--abort")
        log.step("git revert --abort: the tree is as it was")
        return Outcome(False, f"git revert failed: {reverted.text()}",
                       [failed("git.revert_conflict", f"git revert failed: {reverted.text()}",
                               sha=plan.sha)])
    new_sha = git(repo, "rev-parse", "HEAD").out.strip()
    log.step(f"revert commit {new_sha[:12]} made", commit=new_sha)
    pushed = git(repo, "push", "--porcelain", plan.remote, plan.branch)
    log.step(f"git push {plan.remote} {plan.branch}", ok=pushed.ok)
    if not pushed.ok:
        # Undo the local commit so a retry starts from the same place as this attempt did.
        git(repo, "reset", "--keep", before)
        log.step(f"push refused: local {plan.branch} reset to {before[:12]}")
        finding = failed("git.push_failed", f"git push {plan.remote} {plan.branch} failed: "
                         f"{pushed.text()}", "fix access to the remote (or pull), then run again",
                         sha=plan.sha)
        return Outcome(False, f"the revert was not pushed: {pushed.text()}", [finding])
    remote_head = git(repo, "rev-parse", f"{plan.remote}/{plan.branch}").out.strip()
    verified = remote_head == new_sha
    log.step(f"{plan.remote}/{plan.branch} is now {remote_head[:12]}", verified=verified)
    checks: list[Finding] = [passed("git.pushed", f"{plan.remote}/{plan.branch} is at the revert "
                                    f"commit {new_sha[:12]}", commit=new_sha)
                             if verified else
                             failed("git.pushed", f"{plan.remote}/{plan.branch} is at "
                                    f"{remote_head[:12]}, not the revert {new_sha[:12]}",
                                    commit=new_sha)]
    return Outcome(verified, f"reverted {plan.sha[:12]} (\"{plan.subject}\") with "
                   f"{new_sha[:12]}, pushed to {plan.remote}/{plan.branch}: CI deploys it",
                   checks, details={"revert_commit": new_sha})
