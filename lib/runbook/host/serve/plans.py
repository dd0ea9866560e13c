"""The mitigations a verdict offers as Slack buttons, each planned exactly, and re-checked.

A plan names one guarded action and everything the press will run it with: the notebook, its
parameters, and the latest deployment when it was planned. The button's text says what it
does with ids, commits and fingerprints only, never a value. Plans are kept as events of the
incident, so a press is checked against the plan as it was shown, even after a restart.

    rollback / restart / redeploy   the `rollback` notebook (Railway), planned here from the
                                    service's deployments (read only)
    webhook_secret / database_url   the `webhook_401` / `db_refused` notebook, offered when
                                    the run that diagnosed it planned the fix (its dry run)

On a press the plan is re-checked (`stale_reason`): the incident closed, the deployment no
longer the latest, or the plan older than `[slack] plan_max_age_minutes` refuse it. The
DATABASE_URL fix carries the fingerprint of the value it showed: a URL rotated again since is
refused by the press's run, which plans the new value (`replanned`) for a new button.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook.clients.railway import Deployment, RailwayClient, deploy_state
from runbook.clients.transport import Timeouts
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import RunbookError
from runbook.incident.fold import Incident
from runbook.sections.rollback import WAS_ACTIVE

RAILWAY_KINDS = ("rollback", "restart", "redeploy")
VARIABLE_KINDS = {"webhook_secret": ("webhook_401", "MOYASAR_WEBHOOK_SECRET"),
                  "database_url": ("db_refused", "DATABASE_URL")}
# The action each plan runs, as the guards and the record name it.
ACTION_NAMES = {"rollback": "railway.rollback", "restart": "railway.restart",
                "redeploy": "railway.redeploy", "webhook_secret": "railway.variable_upsert",
                "database_url": "railway.variable_upsert"}
BUTTON_TEXT_MAX = 75          # Slack's limit for a button's text


@dataclass(frozen=True)
class Plan:
    plan_id: str
    incident_id: str
    kind: str                          # one of RAILWAY_KINDS or VARIABLE_KINDS
    notebook: str
    parameters: dict[str, str]         # the notebook's -p NAME VALUE, confirm and actor aside
    label: str                         # the button's text
    description: str                   # one line: exactly what a press does
    latest_deployment: str             # the service's latest deployment when planned
    made_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def action_name(self) -> str:
        return ACTION_NAMES[self.kind]

    @property
    def value(self) -> str:
        """What the button carries back: the incident and the plan, nothing else."""
        return f"{self.incident_id}/{self.plan_id}"

    def to_event(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "kind": self.kind, "notebook": self.notebook,
                "parameters": self.parameters, "label": self.label,
                "description": self.description, "latest_deployment": self.latest_deployment,
                "made_at": clock.iso(self.made_at), "action": self.action_name,
                "extra": self.extra}

    @classmethod
    def from_event(cls, incident_id: str, event: dict[str, Any]) -> Plan:
        return cls(str(event["plan_id"]), incident_id, str(event["kind"]),
                   str(event["notebook"]), {str(k): str(v) for k, v in
                                            dict(event.get("parameters") or {}).items()},
                   str(event.get("label", "")), str(event.get("description", "")),
                   str(event.get("latest_deployment", "")),
                   clock.parse_iso(str(event["made_at"])), dict(event.get("extra") or {}))


def _new_id() -> str:
    return secrets.token_hex(6)


def _short(text: str) -> str:
    return text if len(text) <= BUTTON_TEXT_MAX else text[:BUTTON_TEXT_MAX - 1] + "…"


def _commit(deployment: Deployment) -> str:
    return f"commit {deployment.short_commit}" if deployment.commit_hash else "no commit"


def _second(done: dict[str, set[str]], kind: str, aim: str) -> dict[str, str] | None:
    """None: the same action on the same target was done already (not offered again); {}: a
    first one; else the short id a second one of the kind needs typed."""
    aims = done.get(ACTION_NAMES[kind], set())
    if aim in aims:
        return None
    return {"confirm_again": aim[:8]} if aims else {}


def railway_plans(config: Config, timeouts: Timeouts, incident_id: str,
                  kinds: tuple[str, ...] = RAILWAY_KINDS,
                  done: dict[str, set[str]] | None = None) -> list[Plan]:
    """Rollback, restart and redeploy as the service's deployments allow; none without a
    [railway] section or when Railway cannot be read (the verdict still names the command).
    `done`: each action name's targets already done in the incident: the same one is not
    offered again, another needs its short id typed (`extra["confirm_again"]`)."""
    done = done or {}
    if config.railway is None:
        return []
    try:
        deployments = RailwayClient.from_config(config, timeouts).deployments(first=20)
    except RunbookError:
        return []
    if not deployments:
        return []
    current, now = deployments[0], clock.now()
    plans: list[Plan] = []
    if "rollback" in kinds:
        tried = done.get(ACTION_NAMES["rollback"], set())
        chosen = next((d for d in deployments[1:] if d.id not in tried and d.can_rollback
                       and deploy_state(d.status) in WAS_ACTIVE), None)
        again = _second(done, "rollback", chosen.id) if chosen is not None else None
        if chosen is not None and again is not None:
            plans.append(Plan(
                _new_id(), incident_id, "rollback", "rollback",
                {"mitigation": "rollback", "deployment_id": chosen.id},
                _short(f"Roll back to {chosen.id[:8]} ({_commit(chosen)})"),
                f"Roll back: run deployment {chosen.id} ({_commit(chosen)}, {chosen.status}) "
                f"again in place of {current.id} ({_commit(current)}, {current.status}); wait "
                f"for Active, then check {config.service.healthz_path} = 200",
                current.id, now, {"to": chosen.id, "from": current.id, **again}))
    restart_again = _second(done, "restart", current.id)
    if "restart" in kinds and restart_again is not None:
        plans.append(Plan(
            _new_id(), incident_id, "restart", "rollback", {"mitigation": "restart"},
            _short(f"Restart {current.id[:8]} ({_commit(current)})"),
            f"Restart: deploymentRestart({current.id}) ({_commit(current)}, {current.status}); "
            f"wait for Active, then check {config.service.healthz_path} = 200",
            current.id, now, {"deployment": current.id, **restart_again}))
    redeploy_again = _second(done, "redeploy", current.id)
    if "redeploy" in kinds and current.can_redeploy and redeploy_again is not None:
        plans.append(Plan(
            _new_id(), incident_id, "redeploy", "rollback", {"mitigation": "redeploy"},
            _short(f"Redeploy {current.id[:8]} ({_commit(current)})"),
            f"Redeploy: build and start {current.id} ({_commit(current)}) again; wait for "
            f"Active, then check {config.service.healthz_path} = 200",
            current.id, now, {"deployment": current.id, **redeploy_again}))
    return plans


def variable_plans(config: Config, timeouts: Timeouts, incident_id: str,
                   record: dict[str, Any]) -> list[Plan]:
    """The variable fixes the run itself planned (a dry run of `railway.variable_upsert`):
    the button names the variable and the fingerprints the dry run recorded."""
    plans: list[Plan] = []
    for action in record.get("actions", []):
        if not isinstance(action, dict) or action.get("name") != "railway.variable_upsert" \
                or action.get("status") != "dry_run":
            continue
        target = str(action.get("target", ""))
        given = action.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}
        for kind, (notebook, variable) in VARIABLE_KINDS.items():
            if not target.startswith(variable) or record.get("notebook") != notebook:
                continue
            if any(p.kind == kind for p in plans):
                continue
            change = (f"{details.get('fingerprint_before') or 'unset'} → "
                      f"{details.get('fingerprint_after') or 'unknown'}")
            if kind == "webhook_secret":
                label = f"Set {variable} {change}"
                what = (f"Set {variable} on Railway to the dashboard's copy ({change}); Railway "
                        "redeploys; then probe the webhook until it is accepted")
            else:
                source = str(details.get("source") or "the Postgres service's URL")
                label = f"Set {variable} {change} (Postgres {source})"
                what = (f"Set {variable} to the Postgres service's current {source} ({change});"
                        " Railway redeploys the app")
            # The press sets only the value shown: rotated again since, the run refuses it.
            after = str(details.get("fingerprint_after") or "")
            parameters = {"expected_fingerprint": after} if kind == "database_url" and after \
                else {}
            plans.append(Plan(_new_id(), incident_id, kind, notebook, parameters,
                              _short(label), what, _latest_id(config, timeouts), clock.now()))
    return plans


def replanned(config: Config, timeouts: Timeouts, pressed: Plan,
              record: dict[str, Any]) -> Plan | None:
    """A variable fix planned again by its press's own run: the run refused the pressed
    plan (the value changed since it was shown) and planned the new value as a dry run."""
    if pressed.kind not in VARIABLE_KINDS:
        return None
    found = [p for p in variable_plans(config, timeouts, pressed.incident_id, record)
             if p.kind == pressed.kind]
    return found[0] if found else None


def _latest_id(config: Config, timeouts: Timeouts) -> str:
    if config.railway is None:
        return ""
    try:
        latest = RailwayClient.from_config(config, timeouts).latest_deployment()
    except RunbookError:
        return ""
    return latest.id if latest else ""


def done_targets(incident: Incident | None) -> dict[str, set[str]]:
    """Each action name's targets done (at the provider) in the incident, from its fold."""
    found: dict[str, set[str]] = {}
    for action in incident.actions if incident is not None else ():
        if action.state == "done" and not action.dry_run and action.aim:
            found.setdefault(action.name, set()).add(action.aim)
    return found


def plans_for(config: Config, timeouts: Timeouts, incident_id: str, record: dict[str, Any],
              sections: list[str], incident: Incident | None = None) -> list[Plan]:
    """The buttons a verdict carries: when its `next` calls for the rollback section, the
    Railway plans (none that repeats what the incident already did); and the variable fixes
    its own run planned."""
    plans = railway_plans(config, timeouts, incident_id, done=done_targets(incident)) \
        if "rollback" in sections else []
    return [*plans, *variable_plans(config, timeouts, incident_id, record)]


def fresh_plan(config: Config, timeouts: Timeouts, stale: Plan) -> Plan | None:
    """The same mitigation planned again from Railway as it is now (Railway plans only)."""
    if stale.kind not in RAILWAY_KINDS:
        return None
    found = railway_plans(config, timeouts, stale.incident_id, (stale.kind,))
    return found[0] if found else None


def stale_reason(config: Config, timeouts: Timeouts, plan: Plan, closed: bool,
                 now: datetime) -> str:
    """Why the plan no longer holds ("" when it does): checked on every press."""
    if closed:
        return "the incident is closed (the monitor reported the service up again)"
    bound = timedelta(minutes=config.slack.plan_max_age_minutes if config.slack else 15.0)
    if now - plan.made_at > bound:
        return (f"the plan was made at {plan.made_at:%H:%M:%S} UTC, more than "
                f"{bound.total_seconds() / 60:g} minutes ago")
    if plan.latest_deployment and config.railway is not None:
        try:
            latest = RailwayClient.from_config(config, timeouts).latest_deployment()
        except RunbookError as exc:
            return f"Railway cannot be read to re-check the plan: {exc}"
        if latest is None or latest.id != plan.latest_deployment:
            now_latest = f"{latest.id}, {latest.status}" if latest else "none"
            return (f"the deployment {plan.latest_deployment} is no longer the latest "
                    f"(now {now_latest})")
    return ""
