"""The runbook's Git Revert path, as a guarded action on a local clone:

    git checkout main
    git revert --no-edit <bad-commit-sha>
    git push origin main        # CI runs, the deploy is triggered automatically

The plan (`clients.git.plan_revert`) shows the exact diff the revert makes before anyone
confirms; executing checks the tree again, reverts, pushes, and verifies the remote's branch.
"""

from __future__ import annotations

from pathlib import Path

from runbook.clients.git import RevertPlan, dirty_files, git, plan_revert, revert_args
from runbook.core.config import Config
from runbook.core.errors import BadInput, ServiceUnavailable
from runbook.core.findings import Finding, failed, passed
from runbook.sections.kit.actions import Action, Outcome, StepLog

__all__ = ["revert_action", "revert_from_config"]


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
    reverted = git(repo, *revert_args(plan.sha, plan.mainline))
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
