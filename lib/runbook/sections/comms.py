"""Communicate, as the runbook's SEV matrix says: Slack to #dealix-alerts, the customer email
(the runbook's Arabic message and an English one, in one UTF-8 message with text and HTML
parts, the Arabic right-to-left), and the status page (investigating → identified →
monitoring → resolved). Each send is a guarded action: a dry run unless confirmed, recorded,
and never sent twice for the same incident and message.

A send that fails becomes a finding a responder can act on: a Slack webhook that no longer
exists, a 429 with its Retry-After, an SMTP login refused (check the password's env var).
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from runbook.clients import slack, smtp
from runbook.clients.statuspage import Incident, StatuspageClient, StatuspageRateLimited
from runbook.core import clock
from runbook.core.errors import AuthError, BadInput, ServiceError, ServiceUnavailable, SmtpError
from runbook.core.findings import Finding, failed, passed, skipped
from runbook.incident import rules
from runbook.sections.kit.actions import Action, Outcome, StepLog, ledger
from runbook.sections.kit.session_protocol import SessionProtocol

__all__ = ["CustomerMessage", "Route", "build_email", "customer_message", "email_action",
           "incident_findings", "load_recipients", "route", "slack_action", "slack_text",
           "statuspage_action", "statuspage_status_for"]

UPDATE_MINUTES = 30
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


def findings_by_run(rb: SessionProtocol) -> list[list[Finding]]:
    """Every finding reported in this incident so far, run by run (sealed or still open)."""
    found: list[list[Finding]] = []
    for run in rb.archive.runs_of(rb.run.incident_id):
        found.append([Finding.from_dict(event["finding"]) for event in rb.archive.events(run)
                      if event.get("type") == "finding" and isinstance(event.get("finding"),
                                                                       dict)])
    return found


def incident_findings(rb: SessionProtocol) -> list[Finding]:
    """Every finding reported in this incident so far, by any run (sealed or still open)."""
    return [finding for run in findings_by_run(rb) for finding in run]


def route(rb: SessionProtocol, channels: str = "auto") -> Route:
    """`auto`: the SEV matrix for the incident's worst severity; else a comma-separated list."""
    by_run = findings_by_run(rb)
    findings = [finding for run in by_run for finding in run]
    level = rules.incident_severity(rules.run_severity(run) for run in by_run)
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

def email_action(rb: SessionProtocol, message: CustomerMessage, *, recipients_csv: str = "",
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


_EMAIL_FAILURES = {
    "auth": ("email.auth_failed", "check ${password_env} (and [email] username)"),
    "recipients": ("email.recipients_refused", "check the addresses in the recipients list"),
    "smtp": ("email.failed", "check the [email] settings and the SMTP provider's status"),
    "unreachable": ("email.unreachable", "check [email] smtp_host, smtp_port and security"),
}


def _send_email(rb: SessionProtocol, message: CustomerMessage, addresses: list[str],
                log: StepLog) -> Outcome:
    settings = rb.config.email
    assert settings is not None
    email = build_email(message, settings.from_address)
    password = rb.secret(settings.password_env) if settings.username else None
    try:
        delivery = smtp.send(settings, password, email, addresses, rb.timeouts.total, log.step)
    except SmtpError as exc:
        code, fix = _EMAIL_FAILURES[exc.kind]
        return _email_failed(code, exc.reason, fix.format(password_env=settings.password_env),
                             exc.sent)
    sent = delivery.sent
    where = smtp.where(settings)
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

def slack_text(rb: SessionProtocol, headline: str = "", kind: str = "outage",
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


def slack_action(rb: SessionProtocol, text: str, label: str = "outage",
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


def _post_slack(rb: SessionProtocol, url: str, env: str, channel: str, text: str,
                log: StepLog) -> Outcome:
    def note(status: int, body: str) -> None:
        log.step(f"Slack answered {status} {body[:40]}")

    try:
        answer = slack.post_message(url, text, rb.timeouts, on_answer=note)
    except ServiceUnavailable as exc:
        log.step(f"Slack unreachable: {exc}")
        return Outcome(False, str(exc), [failed("slack.unreachable", str(exc),
                                                "try again; check the network")])
    if answer.rate_limited:
        delay = answer.retry_after
        summary = (f"Slack rate-limits the webhook (429, Retry-After {delay:g}s): the "
                   "message was not posted")
        return Outcome(False, summary, [failed(
            "slack.rate_limited", summary, f"run again after {delay:g}s: Slack "
            "allows about one message a second per webhook", retry_after=delay)])
    if answer.ok:
        summary = f"posted to {channel}"
        return Outcome(True, summary, [passed("slack.posted", summary, channel=channel)])
    summary = (f"Slack refused the message ({answer.status} {answer.error or 'error'}):"
               f" {answer.meaning}")
    code = f"slack.{answer.error}" if answer.error else "slack.failed"
    return Outcome(False, summary, [failed(code, summary, answer.fix(f"${env}"),
                                           http_status=answer.status,
                                           error=answer.error or answer.body)])


# ---------------------------------------------------------------- Statuspage

def statuspage_action(rb: SessionProtocol, status: str, body: str, name: str = "",
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
    pages = StatuspageClient(settings, key, rb.timeouts)
    if opened is None:
        title = name or f"Dealix service disruption ({rb.incident_id})"
        plan = (f"open an incident \"{title}\" on status page {settings.page_id} as {status} "
                f"(impact critical) with: {body}")
        return Action("statuspage.create", f"page {settings.page_id}: incident {rb.incident_id}",
                      plan, lambda log: _statuspage_send(
                          pages, "POST", lambda: pages.create_incident(title, status, body), log),
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
    plan = f"move status page incident {incident_id} from {current} to {status} with: {body}"
    return Action("statuspage.update", target, plan,
                  lambda log: _statuspage_send(
                      pages, "PATCH", lambda: pages.update_incident(incident_id, status, body),
                      log, incident_id),
                  details={"from": current, "to": status}, preview=body)


@dataclass(frozen=True)
class _Opened:
    incident_id: str
    status: str
    name: str        # the ledger entry that set the status: its action name and target
    target: str


def _opened_incident(rb: SessionProtocol, page_id: str) -> _Opened | None:
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


def _statuspage_send(pages: StatuspageClient, method: str, send: Callable[[], Incident],
                     log: StepLog, incident_id: str = "") -> Outcome:
    env = pages.settings.api_key_env
    try:
        incident = send()
    except AuthError as exc:
        log.step(f"{pages.describe(method, incident_id)} → refused")
        return Outcome(False, str(exc), [failed("statuspage.auth_failed", str(exc),
                                                f"check ${env}")])
    except StatuspageRateLimited as exc:
        log.step(f"{pages.describe(method, incident_id)} → 429")
        return Outcome(False, str(exc), [failed("statuspage.rate_limited", str(exc),
                                                f"run again after {exc.retry_after:g}s")])
    except ServiceUnavailable as exc:
        log.step(str(exc))
        return Outcome(False, str(exc), [failed("statuspage.unreachable", str(exc),
                                                "try again; check [statuspage] api_url")])
    except ServiceError as exc:
        log.step(f"{pages.describe(method, incident_id)} → {exc}")
        return Outcome(False, str(exc), [failed("statuspage.failed", str(exc),
                                                "check [statuspage] page_id and the status")])
    log.step(f"{pages.describe(method, incident_id)} → {incident.status}")
    summary = f"status page incident {incident.id} is {incident.status}"
    return Outcome(True, summary, [passed("statuspage.updated", summary, link=incident.shortlink)],
                   details={"statuspage_incident": incident.id, "status": incident.status,
                            "page_id": incident.page_id, "link": incident.shortlink})


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
