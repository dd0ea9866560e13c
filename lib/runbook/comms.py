"""Communicate, as the runbook's SEV matrix says: Slack to #dealix-alerts, the customer email
(the runbook's Arabic message and an English one, in one UTF-8 message with text and HTML
parts, the Arabic right-to-left), and the status page (investigating → identified →
monitoring → resolved). Each send is a guarded action: a dry run unless confirmed, recorded,
and never sent twice for the same incident and message.

A send that fails becomes a finding a responder can act on: Slack's `no_service` (the webhook
was removed), a 429 with its Retry-After, an SMTP login refused (check the password's env var).
"""

from __future__ import annotations

import csv
import html
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

import httpx

from runbook.actions import Action, ActionSession, Outcome, StepLog, ledger
from runbook.clients.http import (
    Timeouts,
    client,
    describe_failure,
    excerpt,
    json_body,
    retry_after_seconds,
    transport_failure,
)
from runbook.core import clock
from runbook.core.config import Config
from runbook.core.errors import BadInput
from runbook.core.findings import Finding, failed, passed, skipped
from runbook.core.redaction import registry
from runbook.core.severity import classify

UPDATE_MINUTES = 30
MAX_RETRY_AFTER = 10.0      # seconds we wait on a 429 before reporting it instead
SMTP_BATCH = 50             # envelope recipients per SMTP transaction
STATUSPAGE_ORDER = ("investigating", "identified", "monitoring", "resolved")

# The runbook's customer message, word for word; {minutes} is the promised update time.
ARABIC_OUTAGE = ("نواجه مشكلة فنية مؤقتة في النظام. الفريق يعمل على حلها.\n"
                 "سنحدثكم خلال {minutes} دقيقة.\n"
                 "— فريق Dealix")
ENGLISH_OUTAGE = ("We are facing a temporary technical problem in the system. The team is "
                  "working on it.\nWe will update you within {minutes} minutes.\n"
                  "— the Dealix team")
ARABIC_RESOLVED = ("تم حل المشكلة الفنية وعادت الخدمة للعمل بشكل طبيعي. نعتذر عن الإزعاج.\n"
                   "— فريق Dealix")
ENGLISH_RESOLVED = ("The technical problem is resolved and the service is working normally "
                    "again. We apologise for the inconvenience.\n— the Dealix team")
SUBJECTS = {"outage": "Dealix: مشكلة فنية مؤقتة / temporary technical problem",
            "resolved": "Dealix: تم حل المشكلة / problem resolved"}
KINDS = ("outage", "resolved")

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")

SLACK_ERRORS = {
    "no_service": ("the webhook no longer exists (removed, or its Slack app uninstalled)",
                   "create a new incoming webhook for the channel and put its URL in {env}"),
    "channel_not_found": ("the webhook's channel was deleted or renamed",
                          "create a new incoming webhook for the channel, URL in {env}"),
    "channel_is_archived": ("the channel is archived", "unarchive it, or make a webhook for "
                            "another channel and put its URL in {env}"),
    "invalid_token": ("Slack does not know the webhook's token", "check {env} holds the "
                      "whole webhook URL"),
    "action_prohibited": ("a workspace admin restricts this webhook", "ask a Slack admin"),
    "invalid_payload": ("Slack rejected the message body", "a bug: report it"),
    "rollup_error": ("Slack had an internal error", "try again in a minute"),
}


class CommsSession(ActionSession, Protocol):
    config: Config

    @property
    def timeouts(self) -> Timeouts: ...

    def secret(self, env_name: str) -> str | None: ...


# ---------------------------------------------------------------- who is told, by severity

CHANNELS = ("slack", "email", "statuspage")
# The SEV matrix's Communication column, as channels.
BY_SEVERITY = {"SEV-1": ("slack", "email"), "SEV-2": ("slack", "statuspage"),
               "SEV-3": ("email",), "SEV-4": ()}


@dataclass(frozen=True)
class Route:
    """Which channels this incident's severity calls for (or the responder chose)."""

    level: str | None
    channels: tuple[str, ...]
    reason: str
    findings: tuple[Finding, ...] = ()

    def wants(self, channel: str) -> bool:
        return channel in self.channels

    def __repr__(self) -> str:
        return (f"{self.level or 'no severity'}: {', '.join(self.channels) or 'no channel'} "
                f"— {self.reason}")

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.level or 'No severity')}</b>: tell "
                f"<b>{html.escape(', '.join(self.channels) or 'nobody')}</b> — "
                f"{html.escape(self.reason)}</p>")


def incident_findings(rb: ActionSession) -> list[Finding]:
    """Every finding reported in this incident so far, by any run (sealed or still open)."""
    found: list[Finding] = []
    for run in rb.archive.runs_of(rb.run.incident_id):
        for event in rb.archive.events(run):
            if event.get("type") == "finding" and isinstance(event.get("finding"), dict):
                found.append(Finding.from_dict(event["finding"]))
    return found


def route(rb: ActionSession, channels: str = "auto") -> Route:
    """`auto`: the SEV matrix for the incident's worst severity; else a comma-separated list."""
    findings = incident_findings(rb)
    level = classify(findings)
    if channels.strip().lower() in ("", "auto"):
        if level is None:
            return Route(None, (), "nothing has failed in this incident: no one to tell",
                         tuple(findings))
        return Route(level.level, BY_SEVERITY[level.level],
                     f"the SEV matrix says: {level.communication}", tuple(findings))
    chosen = tuple(c.strip().lower() for c in channels.split(",") if c.strip())
    unknown = [c for c in chosen if c not in CHANNELS]
    if unknown:
        raise BadInput(f"unknown channel {unknown[0]!r}: use auto, or some of "
                       + ", ".join(CHANNELS))
    return Route(level.level if level else None, chosen, "chosen by the responder",
                 tuple(findings))


def _not_called_for(name: str, channel: str, chosen: Route) -> Action:
    reason = (f"{channel} is not called for: {chosen.level or 'no severity'} → "
              f"{', '.join(chosen.channels) or 'no channel'} ({chosen.reason})")
    return Action(name, f"{channel} (not called for)", "", _never, blocked=reason,
                  findings=(skipped(f"{channel}.not_called_for", reason),))


# ---------------------------------------------------------------- the customer message

@dataclass(frozen=True)
class CustomerMessage:
    kind: str
    subject: str
    arabic: str
    english: str
    minutes: int = 0             # the promised update time; 0 when none is promised

    def text(self) -> str:
        """The text/plain part: Arabic first (as the runbook has it), then English."""
        return f"{self.arabic}\n\n---\n\n{self.english}\n"

    def html(self) -> str:
        """The text/html part: the Arabic right-to-left, the English left-to-right."""
        def paragraphs(text: str) -> str:
            return "<br>\n".join(html.escape(line) for line in text.splitlines())
        return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
                f'<div dir="rtl" lang="ar" style="text-align:right">{paragraphs(self.arabic)}'
                "</div>\n<hr>\n"
                f'<div dir="ltr" lang="en" style="text-align:left">{paragraphs(self.english)}'
                "</div>\n</body></html>\n")

    def __repr__(self) -> str:
        return f"Subject: {self.subject}\n\n{self.text()}"

    def _repr_html_(self) -> str:
        return (f"<p><b>Subject:</b> {html.escape(self.subject)}</p>"
                f'<div style="border:1px solid #ccc;padding:8px">{self.html()}</div>')


def customer_message(kind: str = "outage", minutes: int = UPDATE_MINUTES) -> CustomerMessage:
    """The runbook's message with the update time filled in (30 minutes unless told)."""
    if kind not in KINDS:
        raise BadInput(f"message kind {kind!r} is not one of {', '.join(KINDS)}")
    if minutes <= 0:
        raise BadInput("the update time must be a positive number of minutes")
    if kind == "outage":
        return CustomerMessage(kind, SUBJECTS[kind], ARABIC_OUTAGE.format(minutes=minutes),
                               ENGLISH_OUTAGE.format(minutes=minutes), minutes)
    return CustomerMessage(kind, SUBJECTS[kind], ARABIC_RESOLVED, ENGLISH_RESOLVED)


def build_email(message: CustomerMessage, from_address: str, domain: str = "") -> EmailMessage:
    """One message, multipart/alternative: UTF-8 text/plain and text/html. The customers go in
    the envelope only (never in a header), so no customer sees another's address."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = from_address
    email["To"] = "undisclosed-recipients:;"
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=domain or _domain(from_address))
    email["Content-Language"] = "ar, en"
    email.set_content(message.text(), subtype="plain", charset="utf-8")
    email.add_alternative(message.html(), subtype="html", charset="utf-8")
    return email


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


# ---------------------------------------------------------------- recipients

def load_recipients(csv_path: str = "", given: str = "") -> list[str]:
    """Addresses from a CSV with an `email` column and/or a comma-separated parameter; checked,
    deduplicated (case-insensitively), in order. BadInput names the bad line or address."""
    found: list[str] = []
    if csv_path:
        path = Path(csv_path).expanduser()
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = {name.strip().lower(): name for name in reader.fieldnames or []}
                if "email" not in columns:
                    raise BadInput(f"{path}: no `email` column (columns: "
                                   f"{', '.join(reader.fieldnames or []) or 'none'})")
                for line, row in enumerate(reader, start=2):
                    address = (row.get(columns["email"]) or "").strip()
                    if not address:
                        continue
                    if not _EMAIL.match(address):
                        raise BadInput(f"{path} line {line}: {address!r} is not an email "
                                       "address")
                    found.append(address)
        except FileNotFoundError:
            raise BadInput(f"recipients file {path} not found: pass recipients_csv, or "
                           "set [email] recipients_csv") from None
        except UnicodeDecodeError:
            raise BadInput(f"recipients file {path} is not UTF-8 text") from None
    for address in re.split(r"[,;\s]+", given.strip()) if given.strip() else []:
        if not _EMAIL.match(address):
            raise BadInput(f"recipient {address!r} is not an email address")
        found.append(address)
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(address.lower(), address)
    return list(unique.values())


# ---------------------------------------------------------------- email

def email_action(rb: CommsSession, message: CustomerMessage, *, recipients_csv: str = "",
                 recipients: str = "", chosen: Route | None = None) -> Action:
    """Send the customer message to everyone on the list, once per incident and kind."""
    name = "email.customers"
    if chosen is not None and not chosen.wants("email"):
        return _not_called_for(name, "email", chosen)
    settings = rb.config.email
    if settings is None:
        return _unconfigured(name, f"customers ({message.kind})", "email",
                             "no [email] section: add smtp_host, from_address and "
                             "recipients_csv to send the customer message")
    target = f"customers ({message.kind}) via {settings.smtp_host}"
    try:
        addresses = load_recipients(recipients_csv or settings.recipients_csv, recipients)
    except BadInput as exc:
        return _blocked(name, target, "email.recipients_invalid", str(exc))
    if not addresses:
        return _blocked(name, target, "email.no_recipients",
                        "no recipients: give recipients_csv (an `email` column) or recipients")
    if settings.username and not rb.secret(settings.password_env):
        return _blocked(name, target, "email.auth_failed",
                        f"${settings.password_env} is not set: export the SMTP password for "
                        f"{settings.username} in it")
    shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more"
                                        if len(addresses) > 3 else "")
    plan = (f"send one email \"{message.subject}\" (Arabic and English, UTF-8 text and HTML) "
            f"from {settings.from_address} to {len(addresses)} recipient(s) ({shown}) via "
            f"{settings.smtp_host}:{settings.smtp_port} ({settings.security})")

    def execute(log: StepLog) -> Outcome:
        return _send_email(rb, message, addresses, log)

    return Action(name, target, plan, execute, preview=message.text(),
                  details={"recipients": len(addresses), "first recipients": shown,
                           "subject": message.subject,
                           "next update": f"{message.minutes} minutes" if message.minutes
                           else "-"})


def _smtp(config: Config, timeout: float) -> smtplib.SMTP:
    settings = config.email
    assert settings is not None
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                context=ssl.create_default_context())
    connection = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.security == "starttls":
        connection.starttls(context=ssl.create_default_context())
    return connection


def _send_email(rb: CommsSession, message: CustomerMessage, addresses: list[str],
                log: StepLog) -> Outcome:
    settings = rb.config.email
    assert settings is not None
    email = build_email(message, settings.from_address)
    sender = parseaddr(settings.from_address)[1]
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    sent = 0
    try:
        with _smtp(rb.config, rb.timeouts.total) as connection:
            log.step(f"connected to {where} ({settings.security})")
            if settings.username:
                connection.login(settings.username, rb.secret(settings.password_env) or "")
                log.step(f"logged in as {settings.username}")
            for start in range(0, len(addresses), SMTP_BATCH):
                batch = addresses[start:start + SMTP_BATCH]
                refused = connection.send_message(email, from_addr=sender, to_addrs=batch)
                sent += len(batch) - len(refused)
                log.step(f"sent to {len(batch) - len(refused)} of {len(batch)} recipient(s)",
                         refused=sorted(refused))
    except smtplib.SMTPAuthenticationError as exc:
        log.step(f"login refused ({exc.smtp_code})")
        return _email_failed("email.auth_failed",
                             f"the SMTP server {where} refused the login for "
                             f"{settings.username} ({exc.smtp_code})",
                             f"check ${settings.password_env} (and [email] username)", sent)
    except smtplib.SMTPRecipientsRefused as exc:
        log.step("every recipient was refused")
        return _email_failed("email.recipients_refused", f"{where} refused every recipient "
                             f"({', '.join(list(exc.recipients)[:3])}…)",
                             "check the addresses in the recipients list", sent)
    except smtplib.SMTPException as exc:
        log.step(f"SMTP error: {type(exc).__name__}")
        return _email_failed("email.failed", f"{where}: {registry().redact(str(exc))}",
                             "check the [email] settings and the SMTP provider's status", sent)
    except OSError as exc:
        kind = "timeout" if isinstance(exc, TimeoutError) else \
            "refused" if isinstance(exc, ConnectionRefusedError) else "connect"
        log.step(f"cannot reach {where}: {kind}")
        return _email_failed("email.unreachable", f"cannot reach the SMTP server {where} "
                             f"({kind}: {exc.strerror or exc})",
                             "check [email] smtp_host, smtp_port and security", sent)
    ok = sent == len(addresses)
    finding = (passed("email.sent", f"the customer email reached {where} for all {sent} "
                      "recipient(s)", recipients=sent) if ok else
               failed("email.partly_sent", f"{sent} of {len(addresses)} recipient(s) accepted",
                      "check the refused addresses in the steps", recipients=sent))
    return Outcome(ok, finding.summary, [finding], details={"sent": sent})


def _email_failed(code: str, summary: str, fix: str, sent: int) -> Outcome:
    note = f" ({sent} recipient(s) were sent to before it failed)" if sent else ""
    return Outcome(False, summary + note, [failed(code, summary + note, fix, sent=sent)],
                   details={"sent": sent})


# ---------------------------------------------------------------- Slack

def slack_text(rb: CommsSession, headline: str = "", kind: str = "outage",
               minutes: int = UPDATE_MINUTES) -> str:
    """The #dealix-alerts message: severity, incident, what is wrong, when the next update is."""
    level = ""
    assess = getattr(rb, "assess", None)
    if callable(assess):
        level = assess().level or ""
    if not headline:
        findings: list[Finding] = list(getattr(rb, "findings", []))
        first = next((f for f in findings if f.failed), None)
        headline = first.summary if first else "incident in progress"
    started = getattr(rb, "incident_started", None)
    since = f" Started {clock.both_zones(started)}." if started else ""
    if kind == "resolved":
        return f":white_check_mark: Resolved — Dealix incident {rb.incident_id}: {headline}."
    prefix = f":rotating_light: {level} " if level else ":rotating_light: "
    return (f"{prefix}Dealix incident {rb.incident_id}: {headline}.{since} "
            f"Customers are told: next update within {minutes} minutes.")


def slack_action(rb: CommsSession, text: str, label: str = "outage",
                 chosen: Route | None = None) -> Action:
    """Post `text` to the channel's incoming webhook, once per incident and label."""
    name = "slack.post"
    if chosen is not None and not chosen.wants("slack"):
        return _not_called_for(name, "slack", chosen)
    settings = rb.config.slack
    if settings is None:
        return _unconfigured(name, label, "slack", "no [slack] section: add webhook_url_env")
    target = f"{settings.channel} ({label})"
    url = rb.secret(settings.webhook_url_env)
    if not url:
        return _blocked(name, target, "slack.not_configured",
                        f"${settings.webhook_url_env} is not set: export the incoming "
                        f"webhook URL for {settings.channel} in it")
    plan = f"post to {settings.channel} through its incoming webhook: {text}"

    def execute(log: StepLog) -> Outcome:
        return _post_slack(rb, url, settings.webhook_url_env, settings.channel, text, log)

    return Action(name, target, plan, execute, details={"channel": settings.channel},
                  preview=text)


def _post_slack(rb: CommsSession, url: str, env: str, channel: str, text: str,
                log: StepLog) -> Outcome:
    waited = 0.0
    with client(rb.timeouts) as http:
        while True:
            try:
                response = http.post(url, json={"text": text})
            except httpx.HTTPError as exc:
                kind = transport_failure(exc)
                log.step(f"Slack unreachable: {kind}")
                summary = f"Slack: {describe_failure(kind, url)}"
                return Outcome(False, summary, [failed("slack.unreachable", summary,
                                                       "try again; check the network")])
            body = response.text.strip()
            log.step(f"Slack answered {response.status_code} {excerpt(body)[:40]}")
            if response.status_code == 429:
                delay = retry_after_seconds(response)
                if waited + delay <= MAX_RETRY_AFTER:
                    time.sleep(delay)
                    waited += delay
                    continue
                summary = (f"Slack rate-limits the webhook (429, Retry-After {delay:g}s): the "
                           "message was not posted")
                return Outcome(False, summary, [failed(
                    "slack.rate_limited", summary, f"run again after {delay:g}s: Slack "
                    "allows about one message a second per webhook", retry_after=delay)])
            if response.status_code == 200 and body == "ok":
                summary = f"posted to {channel}"
                return Outcome(True, summary, [passed("slack.posted", summary, channel=channel)])
            error = body if body in SLACK_ERRORS else ""
            meaning, fix = SLACK_ERRORS.get(error, (f"unexpected answer {excerpt(body)!r}",
                                                    "check the webhook URL in {env}"))
            summary = (f"Slack refused the message ({response.status_code} {error or 'error'}):"
                       f" {meaning}")
            code = f"slack.{error}" if error else "slack.failed"
            return Outcome(False, summary, [failed(code, summary, fix.format(env=f"${env}"),
                                                   http_status=response.status_code,
                                                   error=error or excerpt(body))])


# ---------------------------------------------------------------- Statuspage

def statuspage_action(rb: CommsSession, status: str, body: str, name: str = "",
                      chosen: Route | None = None) -> Action:
    """Open the incident on the status page (the first time) or move it to `status`."""
    if chosen is not None and not chosen.wants("statuspage"):
        return _not_called_for("statuspage.update", "statuspage", chosen)
    if status not in STATUSPAGE_ORDER:
        raise BadInput(f"status page status {status!r} is not one of "
                       + ", ".join(STATUSPAGE_ORDER))
    settings = rb.config.statuspage
    if settings is None:
        return _unconfigured("statuspage.update", status, "statuspage",
                             "no [statuspage] section: add page_id and api_key_env")
    key = rb.secret(settings.api_key_env)
    opened = _opened_incident(rb, settings.page_id)
    if not key:
        return _blocked("statuspage.update", f"page {settings.page_id}: {status}",
                        "statuspage.not_configured",
                        f"${settings.api_key_env} is not set: export the Statuspage API key")
    base = f"{settings.api_url.rstrip('/')}/pages/{settings.page_id}/incidents"
    headers = {"Authorization": f"OAuth {key}"}
    if opened is None:
        title = name or f"Dealix service disruption ({rb.incident_id})"
        payload = {"incident": {"name": title, "status": status, "impact_override": "critical",
                                "body": body, "component_ids": list(settings.component_ids)}}
        plan = (f"open an incident \"{title}\" on status page {settings.page_id} as {status} "
                f"(impact critical) with: {body}")
        return Action("statuspage.create", f"page {settings.page_id}: incident {rb.incident_id}",
                      plan, lambda log: _statuspage_send(rb, "POST", base, headers, payload,
                                                         settings.api_key_env, log),
                      details={"status": status, "name": title}, preview=body)
    incident_id, current = opened.incident_id, opened.status
    if status == current:
        # Asked again for the status already set: the guard reports the run that set it.
        return Action(opened.name, opened.target, "", _never,
                      blocked=f"the status page incident is already {current}")
    target = f"page {settings.page_id} incident {incident_id}: {status}"
    if STATUSPAGE_ORDER.index(status) < STATUSPAGE_ORDER.index(current):
        return _blocked("statuspage.update", target, "statuspage.out_of_order",
                        f"the status page incident is already {current}; it cannot go back "
                        f"to {status}")
    payload = {"incident": {"status": status, "body": body}}
    plan = f"move status page incident {incident_id} from {current} to {status} with: {body}"
    return Action("statuspage.update", target, plan,
                  lambda log: _statuspage_send(rb, "PATCH", f"{base}/{incident_id}", headers,
                                               payload, settings.api_key_env, log),
                  details={"from": current, "to": status}, preview=body)


@dataclass(frozen=True)
class _Opened:
    incident_id: str
    status: str
    name: str        # the ledger entry that set the status: its action name and target
    target: str


def _opened_incident(rb: ActionSession, page_id: str) -> _Opened | None:
    """The Statuspage incident this incident opened, and its latest status, from the ledger."""
    opened: _Opened | None = None
    for entry in ledger(rb):
        details = entry.get("details") or {}
        if entry.get("status") != "succeeded" or details.get("page_id") != page_id:
            continue
        incident = str(details.get("statuspage_incident", ""))
        if entry.get("name") == "statuspage.create" or (
                opened is not None and incident == opened.incident_id):
            opened = _Opened(incident, str(details.get("status", "investigating")),
                             str(entry.get("name")), str(entry.get("target")))
    return opened


def _statuspage_send(rb: CommsSession, method: str, url: str, headers: dict[str, str],
                     payload: dict[str, Any], env: str, log: StepLog) -> Outcome:
    with client(rb.timeouts, headers) as http:
        try:
            response = http.request(method, url, json=payload)
        except httpx.HTTPError as exc:
            kind = transport_failure(exc)
            summary = f"Statuspage: {describe_failure(kind, url)}"
            log.step(summary)
            return Outcome(False, summary, [failed("statuspage.unreachable", summary,
                                                   "try again; check [statuspage] api_url")])
    log.step(f"{method} {httpx.URL(url).path} → {response.status_code}")
    if response.status_code in (401, 403):
        summary = f"Statuspage refused the API key ({response.status_code})"
        return Outcome(False, summary, [failed("statuspage.auth_failed", summary,
                                               f"check ${env}")])
    if response.status_code == 429:
        delay = retry_after_seconds(response)
        summary = f"Statuspage rate-limits (429, Retry-After {delay:g}s): nothing was changed"
        return Outcome(False, summary, [failed("statuspage.rate_limited", summary,
                                               f"run again after {delay:g}s")])
    if response.status_code not in (200, 201):
        summary = (f"Statuspage answered {response.status_code}: "
                   f"{excerpt(response.text)}")
        return Outcome(False, summary, [failed("statuspage.failed", summary,
                                               "check [statuspage] page_id and the status")])
    incident = json_body(response, "Statuspage")
    if not isinstance(incident, dict) or not incident.get("id"):
        summary = "Statuspage answered without an incident id"
        return Outcome(False, summary, [failed("statuspage.failed", summary)])
    status = str(incident.get("status", ""))
    page_id = str(incident.get("page_id") or url.split("/pages/")[1].split("/")[0])
    summary = f"status page incident {incident['id']} is {status}"
    link = str(incident.get("shortlink") or "")
    return Outcome(True, summary, [passed("statuspage.updated", summary, link=link)],
                   details={"statuspage_incident": str(incident["id"]), "status": status,
                            "page_id": page_id, "link": link})


# ---------------------------------------------------------------- shared

def _never(log: StepLog) -> Outcome:  # pragma: no cover - a blocked action never executes
    raise BadInput("a blocked action cannot be executed")


def _blocked(name: str, target: str, code: str, reason: str) -> Action:
    return Action(name, target, "", _never, blocked=reason,
                  findings=(failed(code, reason),))


def _unconfigured(name: str, target: str, service: str, reason: str) -> Action:
    return Action(name, target, "", _never, blocked=reason,
                  findings=(skipped(f"{service}.not_configured", reason),))


def statuspage_status_for(kind: str, given: str = "") -> str:
    """The status page step a message kind implies, unless one is given."""
    return given.strip() or ("resolved" if kind == "resolved" else "investigating")
