"""Each provider's webhook payload, parsed into one `Alert`.

The shapes accepted are the documented ones (`reference/apis.md`, "Incoming webhooks"):
- UptimeRobot's webhook alert contact: its variables (`monitorID`, `monitorFriendlyName`,
  `alertType` 1 down / 2 up / 3 SSL expiry, `alertDetails`, `alertDateTime` in Unix seconds…)
  as a query string, a form body or a JSON body;
- Sentry's integration platform: `event_alert` (`action: triggered`, `data.event`) and
  `metric_alert` (`action` critical | warning | resolved, `data.metric_alert`,
  `data.description_title`); other resources are acknowledged and ignored;
- Railway's project webhooks: today's `{"type": "Deployment.<state>", "details": {...},
  "resource": {"service": …, "deployment": …}, "timestamp"}` and the earlier
  `{"type": "DEPLOY", "status": "CRASHED", "service": …, "deployment": …, "timestamp"}`.
  A payload of neither shape is `unknown`: acknowledged, logged with its keys, never guessed.

A body that is not what its content type says, or lacks the fields that make it an alert,
is `MalformedAlert` (HTTP 400).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from runbook.clients.railway import DeployState, deploy_state
from runbook.core import clock
from runbook.incident.upcast import signal_id

DOWN, RECOVERED, IGNORED, UNKNOWN = "down", "recovered", "ignored", "unknown"
RAILWAY_BAD_STATES = (DeployState.CRASHED, DeployState.FAILED)


class MalformedAlert(ValueError):
    """The body cannot be read as this provider's alert."""


@dataclass(frozen=True)
class Alert:
    source: str               # uptimerobot, sentry, railway
    kind: str                 # down, recovered, ignored, unknown
    subject: str              # what the provider names: the monitor, the alert rule, the service
    summary: str              # one line for a person
    at: datetime              # when the provider saw it (else when it arrived)
    trigger: str = ""         # which notebook setting applies: uptimerobot, sentry, crashed…
    details: dict[str, Any] = field(default_factory=dict)   # small, for the timeline

    @property
    def signal(self) -> str:
        """The one name of what alerted, the same for its down and its recovery: the
        UptimeRobot monitor, the Sentry issue (else its alert rule), the Railway service."""
        return signal_id(self.source, self.subject, self.details)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedAlert("the body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedAlert("the body must be a JSON object")
    return data


# ---------------------------------------------------------------- UptimeRobot

def uptimerobot_fields(query: Mapping[str, str], content_type: str, body: bytes
                       ) -> dict[str, str]:
    """UptimeRobot's variables from wherever this delivery put them (query, form or JSON);
    the URL's own `token` is not one of them."""
    fields = {k: v for k, v in query.items() if k != "token"}
    if body.strip():
        if "json" in content_type or body.lstrip().startswith(b"{"):
            data = _object(body)
            fields.update({str(k): "" if v is None else str(v) for k, v in data.items()
                           if not isinstance(v, (dict, list))})
        elif "x-www-form-urlencoded" in content_type or not content_type:
            try:
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                  strict_parsing=True)
            except (UnicodeDecodeError, ValueError):
                raise MalformedAlert("the form body cannot be parsed") from None
            fields.update({k: v for k, v in pairs if k != "token"})
        else:
            raise MalformedAlert(f"unsupported content type {content_type!r}: send the "
                                 "variables as a query string, a form or JSON")
    return fields


def _unix_time(value: str, received: datetime) -> datetime:
    if not value.strip():
        return received
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedAlert(f"alertDateTime {value[:40]!r} is not Unix seconds") from None


def parse_uptimerobot(fields: Mapping[str, str], received: datetime) -> Alert:
    alert_type = fields.get("alertType", "").strip()
    if alert_type not in ("1", "2", "3"):
        raise MalformedAlert("alertType must be 1 (down), 2 (up) or 3 (SSL expiry); got "
                             f"{alert_type[:20]!r}")
    if not (fields.get("monitorID") or fields.get("monitorFriendlyName")
            or fields.get("monitorURL")):
        raise MalformedAlert("no monitorID, monitorFriendlyName or monitorURL: not an alert")
    subject = fields.get("monitorFriendlyName") or fields.get("monitorURL") or \
        f"monitor {fields.get('monitorID')}"
    details_text = fields.get("alertDetails", "").strip()
    at = _unix_time(fields.get("alertDateTime", ""), received)
    kind = {"1": DOWN, "2": RECOVERED, "3": IGNORED}[alert_type]
    word = {"1": "down", "2": "up", "3": "SSL certificate expiring"}[alert_type]
    summary = f"UptimeRobot: {subject} is {word}" + (f" ({details_text})" if details_text else "")
    duration = fields.get("alertDuration", "").strip()
    if alert_type == "2" and duration.isascii() and duration.isdigit():   # not "²"
        summary += f" after {int(fields['alertDuration'])} s down"
    details = {k: fields[k][:200] for k in ("monitorID", "monitorURL", "alertType",
                                            "alertDetails", "alertDuration") if fields.get(k)}
    return Alert("uptimerobot", kind, subject, summary, at, "uptimerobot", details)


# ---------------------------------------------------------------- Sentry

def parse_sentry(resource: str, body: bytes, received: datetime) -> Alert:
    data = _object(body)
    payload = data.get("data")
    action = str(data.get("action", ""))
    if resource not in ("event_alert", "metric_alert"):
        return Alert("sentry", IGNORED, resource or "sentry", f"Sentry {resource or 'hook'} "
                     f"{action}: not an alert", received, details={"resource": resource})
    if not isinstance(payload, dict):
        raise MalformedAlert(f"a Sentry {resource} without a data object")
    if resource == "event_alert":
        event = payload.get("event")
        if not isinstance(event, dict):
            raise MalformedAlert("a Sentry event_alert without data.event")
        title = str(event.get("title") or event.get("message") or "an error")[:200]
        rule = str(payload.get("triggered_rule") or "")[:100]
        at = _sentry_time(event.get("datetime"), received)
        details = {k: str(event[k])[:300] for k in ("issue_id", "web_url") if event.get(k)}
        summary = f"Sentry alert{f' {rule!r}' if rule else ''}: {title}"
        return Alert("sentry", DOWN, rule or title, summary, at, "sentry",
                     {**details, "resource": resource})
    metric = payload.get("metric_alert")
    if not isinstance(metric, dict) or action not in ("critical", "warning", "resolved"):
        raise MalformedAlert("a Sentry metric_alert needs data.metric_alert and an action of "
                             "critical, warning or resolved")
    rule_data = metric.get("alert_rule")
    rule_name = rule_data.get("name") if isinstance(rule_data, dict) else None
    name = str(rule_name or payload.get("description_title") or "metric alert")[:200]
    title = str(payload.get("description_title") or name)[:200]
    kind = RECOVERED if action == "resolved" else DOWN
    return Alert("sentry", kind, name, f"Sentry metric alert ({action}): {title}", received,
                 "sentry", {"resource": resource, "action": action})


def _sentry_time(value: Any, received: datetime) -> datetime:
    try:
        return clock.parse_iso(str(value)) if value else received
    except ValueError:
        return received


# ---------------------------------------------------------------- Railway

def _name(value: Any) -> str:
    return str(value.get("name") or value.get("id") or "") if isinstance(value, dict) else ""


def parse_railway(body: bytes, received: datetime) -> Alert:
    data = _object(body)
    kind_field = str(data.get("type", ""))
    if kind_field.startswith("Deployment.") and isinstance(data.get("resource"), dict):
        resource = data["resource"]
        state = kind_field.split(".", 1)[1].upper()
        given = data.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}
        service, deployment = _name(resource.get("service")), resource.get("deployment")
        environment = _name(resource.get("environment"))
        commit = str(details.get("commitHash") or "")[:12]
    elif kind_field.upper() == "DEPLOY" and isinstance(data.get("status"), str):
        state = str(data["status"]).upper()
        service, deployment = _name(data.get("service")), data.get("deployment")
        environment = _name(data.get("environment"))
        meta = deployment.get("meta") if isinstance(deployment, dict) else None
        commit = str((meta or {}).get("commitHash") or "")[:12] if isinstance(meta, dict) \
            else ""
    else:
        return Alert("railway", UNKNOWN, "railway", "Railway webhook of an unknown shape",
                     received, details={"keys": sorted(str(k) for k in data)[:20],
                                        "type": kind_field[:60]})
    deployment_id = str(deployment.get("id") or "") if isinstance(deployment, dict) else ""
    at = _sentry_time(data.get("timestamp"), received)
    subject = service or "a Railway service"
    facts = {k: v for k, v in (("deployment_id", deployment_id), ("environment", environment),
                                 ("commit", commit), ("status", state)) if v}
    if deploy_state(state) not in RAILWAY_BAD_STATES:
        return Alert("railway", IGNORED, subject, f"Railway: {subject} deployment {state}",
                     at, details=facts)
    summary = f"Railway: {subject} deployment {state}" + \
        (f" in {environment}" if environment else "") + (f" (commit {commit})" if commit else "")
    return Alert("railway", DOWN, subject, summary, at, state.lower(), facts)
