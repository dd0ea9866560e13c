"""Generates notebooks/rollback.ipynb (run from the repo root: python -m tools.make_rollback)."""

from __future__ import annotations

from tools.nbtools import code, md, params, write

write("notebooks/rollback.ipynb", [
    md("""
# Mitigate — roll back, restart, redeploy, or revert the commit

The runbook's **Rollback Procedure**. Railway path: find the previous successful deployment,
roll back to it, wait for `Active`, verify `/healthz` = 200. Git path (if code caused it):
`git checkout main`, `git revert <sha>`, `git push origin main` — CI deploys the revert.

**Nothing is changed unless `confirm=True`.** Without it, the plan below says exactly what
would happen and is recorded as a dry run. An action that already succeeded in this incident is
not done again: running the notebook twice is safe. An attempt whose outcome was never seen
(Railway did not answer in time, or the run was killed) is checked against Railway first; if
Railway cannot say, nothing is done unless `act_despite_unknown=True`. Done at Railway is not
yet a fix: the service's health must then hold for the stabilisation window (`[oncall]
stabilisation`); if it does not, the record says so and the next sections come instead. A
second action of the same kind in one incident needs another target and its short id typed as
`confirm_again`.
"""),
    params("""
incident_id: str = ""  # incident to file this run under; empty: open a new one
config_path: str = ""  # target config; empty: $RUNBOOK_CONFIG or ./runbook.toml
incident_started: str = ""  # when the impact began (ISO-8601); empty: the earliest evidence
mitigation: str = "rollback"  # rollback | restart | redeploy (Railway) or revert (git)
confirm: bool = False  # True: do it; False: dry run, show the plan only
actor: str = ""  # who confirms: the Slack user id of a button press; empty: the local user
deployment_id: str = ""  # rollback: deployment to go back to; empty: the previous successful one
revert_sha: str = ""  # revert: the bad commit's sha
repo_path: str = ""  # revert: local clone; empty: [git] repo_path from the config
mainline: int = 0  # revert of a merge commit: parent number to keep, usually 1
wait_seconds: float = 600.0  # bound on waiting for the new deployment to be Active
act_despite_unknown: bool = False  # True: act even if an earlier attempt's outcome is unknown
confirm_again: str = ""  # a second action of the kind in this incident: its target's short id
"""),
    code("""
from runbook.sections.kit import session, widgets
from runbook.checks import health
from runbook.sections import rollback

rb = session.start("rollback", incident_id=incident_id, config_path=config_path,
                   incident_started=incident_started, actor=actor)
rb.incident_id
"""),
    md("""
## Before: is the service down?
"""),
    code("""
rb.report(health.probe_healthz(rb.config, rb.timeouts), title="Before: /healthz")
"""),
    md("""
## Railway → Deployments
Newest first. "Active" in the dashboard is `SUCCESS`; a deployment that was active and then
replaced shows as `REMOVED`.
"""),
    code("""
rollback.recent_deployments(rb)
"""),
    md("""
## The plan
Which deployment (and commit) or which revert, exactly. For a revert, the diff it makes.
"""),
    code("""
action = rollback.plan_mitigation(rb, mitigation, deployment_id=deployment_id,
                                  revert_sha=revert_sha, repo_path=repo_path, mainline=mainline,
                                  wait_seconds=wait_seconds)
action
"""),
    md("""
## Do it (only with `confirm=True`)
Waits for the new deployment to be `Active` (FAILED or CRASHED stops the wait), then checks
`/healthz`. Every step is timestamped in the record.
"""),
    code("""
widgets.confirm(rb, action, confirm=confirm, act_despite_unknown=act_despite_unknown,
                confirm_again=confirm_again)
"""),
    md("""
## After: /healthz now
"""),
    code("""
rb.report(health.probe_healthz(rb.config, rb.timeouts), title="After: /healthz")
"""),
    md("""
Next: tell customers and the team — the **comms** notebook (`runbook run comms`).
"""),
])
