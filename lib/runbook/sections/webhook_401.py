"""Moyasar webhook 401: are the app's and the dashboard's copies of the webhook secret the same
string, and does the running app accept them?

The app compares the JSON body field `secret_token` of each delivery with its
`MOYASAR_WEBHOOK_SECRET` in constant time and answers 401 `bad_signature` when they differ.
Moyasar sends the secret set in its dashboard. So:

- **read both copies**: the app's from `$[moyasar] webhook_secret_env` when set, else from the
  service's Railway variables; the dashboard's from `$[moyasar] dashboard_secret_env`, or typed
  into a password field (`provide_dashboard_secret`). Every value is registered as a secret;
- **compare** them in constant time: identical, equal once whitespace or quotes are stripped,
  different, or one missing. Only fingerprints and lengths are ever shown;
- **prove it live**: POST a delivery-shaped event to the app's webhook URL with a random token
  (401 expected: the endpoint checks), with the app's copy, and with the dashboard's copy.
  Nothing is ever sent to Moyasar.
"""

from __future__ import annotations

import hmac
import html
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runbook.checks.payments import deliveries_at_risk, window_start
from runbook.clients.railway import RailwayClient
from runbook.clients.transport import Timeouts, client, describe_failure, excerpt, transport_failure
from runbook.core import clock
from runbook.core.concurrency import run_concurrently
from runbook.core.config import Config
from runbook.core.errors import ServiceError
from runbook.core.findings import Finding, Status, errored, failed, passed, skipped
from runbook.core.redaction import fingerprint, registry

__all__ = ["DEFAULT_DASHBOARD_ENV", "RAILWAY_VARIABLE", "SecretCopies", "SecretCopy", "compare",
           "dashboard_secret_widget", "deliveries_at_risk", "prove_live", "read_copies",
           "window_start"]

RAILWAY_VARIABLE = "MOYASAR_WEBHOOK_SECRET"   # the app's variable name on Railway
DEFAULT_DASHBOARD_ENV = "MOYASAR_DASHBOARD_WEBHOOK_SECRET"
PROBE_PREFIX = "runbook-probe-"
PROBE_EVENT_TYPE = "runbook_probe"            # no Moyasar payment event has this type
RAILWAY_APP_DOWN = "Application failed to respond"   # Railway's edge 502 body

FIX = ("Railway → Variables → MOYASAR_WEBHOOK_SECRET; Moyasar Dashboard → Webhooks → same "
       "secret; Must be identical string")
FIX_STALE = ("Redeploy the service (Railway → Deployments → Redeploy) so the app loads "
             "MOYASAR_WEBHOOK_SECRET; then check again. " + FIX)
FIX_ENDPOINT = ("The webhook route does not check secret_token: make sure MOYASAR_WEBHOOK_SECRET "
                "is set on Railway and the deployed code verifies it. " + FIX)
FIX_NOT_API = ("The webhook URL is not answered by the Dealix API (404, 501 or 5xx): check the "
               "service's start command and domain on Railway, and the webhook URL in Moyasar "
               "Dashboard → Webhooks")

APP, DASHBOARD = "app", "dashboard"
_QUOTES = "\"'"

# What was typed into the password field, by the env var name it stands in for.
_typed: dict[str, str] = {}


# -- the two copies ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SecretCopy:
    """One copy of the webhook secret. The value never appears in a repr or in evidence."""

    side: str                                   # APP or DASHBOARD
    source: str                                 # where it was read, for the responder
    value: str | None = field(default=None, repr=False, compare=False)
    problem: str = ""                           # why it could not be read at all

    @property
    def present(self) -> bool:
        return bool(self.value)

    def evidence(self) -> dict[str, Any]:
        if not self.value:
            return {"source": self.source, "set": False}
        return {"source": self.source, "set": True, "length": len(self.value),
                "fingerprint": fingerprint(self.value),
                "whitespace": whitespace_issues(self.value)}

    def label(self) -> str:
        if not self.value:
            return "not set"
        return f"{fingerprint(self.value)} ({len(self.value)} chars)"


def read_app_copy(config: Config, timeouts: Timeouts) -> SecretCopy:
    """The app's copy: `$[moyasar] webhook_secret_env` if set, else the Railway variable."""
    env = config.moyasar.webhook_secret_env if config.moyasar else RAILWAY_VARIABLE
    value = registry().read_env(env)
    if value:
        return SecretCopy(APP, f"${env}", value)
    if config.railway is None:
        return SecretCopy(APP, f"${env} (unset; no [railway] section to read the app's "
                          "variables from)")
    source = f"Railway variable {RAILWAY_VARIABLE} (service {config.railway.service_id})"
    try:
        variables = RailwayClient.from_config(config, timeouts).variables()
    except ServiceError as exc:
        return SecretCopy(APP, source, problem=str(exc))
    return SecretCopy(APP, source, variables.get(RAILWAY_VARIABLE) or None)


def dashboard_env(config: Config) -> str:
    return config.moyasar.dashboard_secret_env if config.moyasar else DEFAULT_DASHBOARD_ENV


def provide_dashboard_secret(config: Config, value: str) -> str:
    """Take the dashboard's copy as typed by a person; registered as a secret at once.

    Returns what to show: a fingerprint and a length, never the value."""
    env = dashboard_env(config)
    if not value:
        _typed.pop(env, None)
        return "Nothing typed: the dashboard's copy is read from $" + env
    registry().register(env, value)
    _typed[env] = value
    return (f"Dashboard's copy received: {fingerprint(value)} ({len(value)} chars). "
            "It is used for this session only and never saved.")


def read_dashboard_copy(config: Config) -> SecretCopy:
    """The dashboard's copy: what was typed in this session, else `$[moyasar]
    dashboard_secret_env`."""
    env = dashboard_env(config)
    if _typed.get(env):
        return SecretCopy(DASHBOARD, "typed in this session", _typed[env])
    return SecretCopy(DASHBOARD, f"${env}", registry().read_env(env))


def forget_typed() -> None:
    _typed.clear()


def dashboard_secret_widget(config: Config) -> Any:
    """A password field for the dashboard's copy (interactive sessions). The field is emptied
    as soon as the value is taken, so no saved widget state can hold it."""
    import ipywidgets as widgets

    box = widgets.Password(description="Secret", placeholder="Moyasar Dashboard → Webhooks → "
                           "Secret Token")
    button = widgets.Button(description="Use this secret")
    status = widgets.Label(value=f"Only needed when ${dashboard_env(config)} is not set.")

    def take(_button: Any) -> None:
        typed = str(box.value)
        box.value = ""
        status.value = provide_dashboard_secret(config, typed)

    button.on_click(take)
    return widgets.VBox([widgets.HBox([box, button]), status])


@dataclass(frozen=True)
class SecretCopies:
    """Both copies side by side: source, set or not, length, fingerprint, whitespace."""

    app: SecretCopy
    dashboard: SecretCopy

    def rows(self) -> list[dict[str, str]]:
        rows = []
        for name, copy in (("app (Railway)", self.app), ("Moyasar dashboard", self.dashboard)):
            ev = copy.evidence()
            rows.append({"copy": name, "source": copy.source,
                         "length": str(ev.get("length", "—")),
                         "fingerprint": str(ev.get("fingerprint", "not set")),
                         "whitespace": ", ".join(ev.get("whitespace", [])) or "—",
                         "problem": copy.problem})
        return rows

    def __repr__(self) -> str:
        lines = ["The two copies of the webhook secret (fingerprint = first 8 hex of SHA-256):"]
        for row in self.rows():
            lines.append(f"  {row['copy']:<18} {row['fingerprint']:<9} length {row['length']:<4}"
                         f" whitespace: {row['whitespace']}  from {row['source']}"
                         + (f"  ({row['problem']})" if row["problem"] else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("copy", "fingerprint", "length", "whitespace",
                                                 "source"))
        body = "".join(
            f"<tr><td>{html.escape(r['copy'])}</td><td><code>{html.escape(r['fingerprint'])}"
            f"</code></td><td>{html.escape(r['length'])}</td>"
            f"<td>{html.escape(r['whitespace'])}</td><td style='text-align:left'>"
            f"{html.escape(r['source'])}"
            + (f"<br><b>{html.escape(r['problem'])}</b>" if r["problem"] else "")
            + "</td></tr>" for r in self.rows())
        return (f"<table class='runbook-secrets'><thead><tr>{head}</tr></thead><tbody>{body}"
                "</tbody></table><p>Fingerprint: the first 8 hex digits of the SHA-256; equal "
                "fingerprints mean identical strings.</p>")


def read_copies(config: Config, timeouts: Timeouts) -> SecretCopies:
    return SecretCopies(read_app_copy(config, timeouts), read_dashboard_copy(config))


# -- comparison -------------------------------------------------------------------------------

def _run_description(run: str, where: str) -> list[str]:
    found = []
    newlines = run.count("\n")
    if newlines:
        found.append(f"{where} newline" + (f" ×{newlines}" if newlines > 1 else ""))
    if "\r" in run:
        found.append(f"{where} carriage return")
    if " " in run:
        found.append(f"{where} spaces" if run.count(" ") > 1 else f"{where} space")
    if "\t" in run:
        found.append(f"{where} tab")
    if run and not found:
        found.append(f"{where} whitespace")
    return found


def whitespace_issues(value: str) -> list[str]:
    """What surrounds the secret itself: 'trailing newline', 'leading spaces', 'surrounding
    quotes'… — a description, never a character of the value."""
    stripped = value.strip()
    issues = _run_description(value[:len(value) - len(value.lstrip())], "leading")
    issues += _run_description(value[len(value.rstrip()):], "trailing")
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in _QUOTES:
        issues.append("surrounding quotes")
    return issues


def _with_article(issue: str) -> str:
    """'trailing newline' → 'a trailing newline'; plurals ('leading spaces') stay as they are."""
    return issue if issue.endswith("s") or "×" in issue else "a " + issue


def normalized(value: str) -> str:
    """The value without surrounding whitespace and quotes: what a person meant to paste."""
    stripped = value.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in _QUOTES:
        stripped = stripped[1:-1].strip()
    return stripped


def same(a: str, b: str) -> bool:
    """Constant-time equality: the time taken says nothing about where the strings differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def compare(app: SecretCopy, dashboard: SecretCopy) -> Finding:
    """webhook.ok / webhook.secret_whitespace / webhook.secret_mismatch / webhook.secret_missing.
    """
    evidence: dict[str, Any] = {"app": app.evidence(), "dashboard": dashboard.evidence()}
    for copy in (app, dashboard):
        if copy.problem:
            return errored("webhook.ok", f"Could not read the {copy.side}'s copy from "
                           f"{copy.source}: {copy.problem}", **evidence)
    missing = [c for c in (app, dashboard) if not c.present]
    if missing:
        where = "; ".join(f"the {c.side}'s copy is not set ({c.source})" for c in missing)
        return Finding("webhook.secret_missing", Status.FAIL,
                       f"Cannot compare: {where}. With MOYASAR_WEBHOOK_SECRET unset the app "
                       "answers 401 to every delivery", evidence, FIX)
    assert app.value is not None and dashboard.value is not None
    if same(app.value, dashboard.value):
        return passed("webhook.ok", f"The two copies are identical: {app.label()} on both "
                      "sides", **evidence)
    if same(normalized(app.value), normalized(dashboard.value)):
        sides = [f"the {c.side}'s copy has " + " and ".join(
                     _with_article(issue) for issue in c.evidence()["whitespace"])
                 for c in (app, dashboard) if c.evidence()["whitespace"]]
        evidence["fingerprint_once_stripped"] = fingerprint(normalized(app.value))
        return Finding("webhook.secret_whitespace", Status.FAIL,
                       "The copies differ only by whitespace or quotes: " + "; ".join(sides)
                       + f" (app {app.label()}, dashboard {dashboard.label()}). The app "
                       "compares the exact string, so every delivery gets 401", evidence, FIX)
    return Finding("webhook.secret_mismatch", Status.FAIL,
                   f"The copies are different strings: app {app.label()}, dashboard "
                   f"{dashboard.label()}. Every Moyasar delivery gets 401", evidence, FIX)


# -- live proof -------------------------------------------------------------------------------

def probe_event_id(incident_id: str) -> str:
    """The probe's event `id`: it names the runbook and the incident, and is the same on every
    probe of one incident, so Dealix answers repeats `duplicate` and keeps one row."""
    return f"{PROBE_PREFIX}webhook-401-{incident_id or 'no-incident'}"


def verification_event(token: str, incident_id: str = "") -> dict[str, Any]:
    """A delivery in Moyasar's envelope that is plainly a runbook probe, not a payment.

    Dealix processes an accepted delivery for real: it de-duplicates by `id`, persists a new
    event (with its raw body) as a payment event, then runs side effects; a `data.status` of
    "paid" would send a receipt, a ZATCA invoice and a WhatsApp alert. So the probe has a type
    that is no payment event, no `data.status`, and one `id` per incident."""
    now = clock.iso(clock.now())
    event_id = probe_event_id(incident_id)
    return {"id": event_id, "type": PROBE_EVENT_TYPE, "created_at": now,
            "secret_token": token, "account_name": "dealix-runbook-probe", "live": False,
            "data": {"id": event_id, "amount": 0, "currency": "SAR",
                     "description": "Dealix runbook webhook check (webhook_401, incident "
                                    f"{incident_id or 'none'}): not a payment",
                     "metadata": {"runbook_probe": "true", "incident_id": incident_id}}}


@dataclass(frozen=True)
class ProbeAnswer:
    status: int | None        # None: no HTTP answer
    body: str                 # a redacted excerpt
    failure: str = ""         # what went wrong on the way, when status is None
    outcome: str = ""         # the app's "status" field on a 2xx: ok, duplicate, dlq

    def describe(self) -> str:
        if self.status is None:
            return self.failure
        return f"{self.status} {self.body}".strip()


def post_event(config: Config, timeouts: Timeouts, token: str,
               incident_id: str = "") -> ProbeAnswer:
    """POST one verification event to the app's webhook URL (never to Moyasar)."""
    url = config.url(config.service.webhook_path)
    try:
        with client(timeouts) as http:
            response = http.post(url, json=verification_event(token, incident_id))
    except httpx.HTTPError as exc:
        return ProbeAnswer(None, "", describe_failure(transport_failure(exc), url))
    try:
        body = response.json()
    except ValueError:
        body = None
    outcome = str(body.get("status", "")) if isinstance(body, dict) else ""
    return ProbeAnswer(response.status_code, excerpt(response.text), outcome=outcome)


def _rejected(answer: ProbeAnswer) -> bool:
    return answer.status == 401


def _accepted(answer: ProbeAnswer) -> bool:
    """A 2xx: `ok` (persisted now), `duplicate` (this incident's probe was persisted before)
    and `dlq` (persisted, its processing failed) all mean the secret was accepted."""
    return answer.status is not None and 200 <= answer.status < 300


def _railway_edge(answer: ProbeAnswer) -> bool:
    """Railway's own 502 for an app that does not run: the app is down, not another app."""
    return answer.status == 502 and RAILWAY_APP_DOWN in answer.body


def _not_dealix(answer: ProbeAnswer) -> bool:
    """404, 501 or another 5xx: Dealix answers a JSON delivery 200, 400 or 401, so whatever
    answers this is not the Dealix API (a static server answers 501 to POST)."""
    return answer.status is not None and (answer.status == 404 or answer.status >= 500) \
        and not _railway_edge(answer)


def _accepted_meaning(answer: ProbeAnswer) -> str:
    return {"duplicate": " (duplicate: this incident's probe was already recorded)",
            "dlq": " (dlq: recorded, its processing failed)"}.get(answer.outcome, "")


def probe_random(config: Config, timeouts: Timeouts) -> Finding:
    token = PROBE_PREFIX + _random.token_urlsafe(24)
    answer = post_event(config, timeouts, token)
    evidence = {"url": config.url(config.service.webhook_path), "answer": answer.describe()}
    if _rejected(answer):
        return passed("webhook.endpoint_checks", "A random token gets 401: the endpoint checks "
                      "secret_token", **evidence)
    if _accepted(answer):
        return failed("webhook.endpoint_checks", "The endpoint ACCEPTED a random token: it does "
                      "not check secret_token", FIX_ENDPOINT, **evidence)
    if _not_dealix(answer):
        return failed("webhook.endpoint_checks", f"The webhook URL answers {answer.status}: "
                      "the app that answers is not the Dealix API", FIX_NOT_API, **evidence)
    return errored("webhook.endpoint_checks", f"The webhook endpoint gave no usable answer to a "
                   f"random token: {answer.describe()}", **evidence)


def probe_copy(config: Config, timeouts: Timeouts, copy: SecretCopy,
               other: SecretCopy, incident_id: str = "") -> Finding:
    """POST with one copy. The app's copy rejected while it equals the dashboard's is
    `webhook.app_stale`: the variable is right, the running app has not loaded it."""
    code = f"webhook.{copy.side}_copy_accepted"
    if not copy.present:
        return skipped(code, f"The {copy.side}'s copy is not known: not probed")
    assert copy.value is not None
    answer = post_event(config, timeouts, copy.value, incident_id)
    evidence = {"url": config.url(config.service.webhook_path), "answer": answer.describe(),
                "fingerprint": fingerprint(copy.value), "source": copy.source,
                "event_id": probe_event_id(incident_id)}
    if _accepted(answer):
        meaning = ("the running app holds this value" if copy.side == APP else
                   "Moyasar's deliveries will be accepted")
        return passed(code, f"The {copy.side}'s copy gets {answer.status}"
                      f"{_accepted_meaning(answer)}: {meaning}", outcome=answer.outcome,
                      **evidence)
    if _not_dealix(answer):
        return failed(code, f"The webhook URL answers {answer.status}: the app that answers is "
                      "not the Dealix API", FIX_NOT_API, **evidence)
    if not _rejected(answer):
        return errored(code, f"No usable answer with the {copy.side}'s copy: "
                       f"{answer.describe()}", **evidence)
    if copy.side == DASHBOARD:
        return failed(code, "The dashboard's copy gets 401: this is what every Moyasar "
                      "delivery meets", FIX, **evidence)
    if other.value is not None and same(copy.value, other.value):
        return failed("webhook.app_stale", "The app rejects Railway's copy although it equals "
                      "the dashboard's: the variable changed but the app was not redeployed",
                      FIX_STALE, **evidence)
    return failed(code, "The app rejects even Railway's copy: the running app holds an older "
                  "value. Setting the variable (which redeploys) fixes both", FIX_STALE,
                  **evidence)


def prove_live(config: Config, timeouts: Timeouts, copies: SecretCopies,
               incident_id: str = "") -> list[Finding]:
    """Three POSTs to the webhook URL at once: a random token, the app's copy, the dashboard's.

    What it leaves in Dealix's database: the random token is refused before anything is
    stored. An accepted copy is persisted once per incident as an event row (id
    `runbook-probe-webhook-401-<incident>`, type `runbook_probe`, its raw body, which holds the
    token as every Moyasar delivery does); the other copy and every later probe of the
    incident answer `duplicate` and store nothing (while Dealix's 7-day de-duplication memory
    holds it). No payment status, so no receipt, invoice or WhatsApp alert."""
    checks: dict[str, Callable[[], Finding | list[Finding]]] = {
        "webhook.endpoint_checks": lambda: probe_random(config, timeouts),
        "webhook.app_copy_accepted": lambda: probe_copy(config, timeouts, copies.app,
                                                        copies.dashboard, incident_id),
        "webhook.dashboard_copy_accepted": lambda: probe_copy(config, timeouts,
                                                              copies.dashboard, copies.app,
                                                              incident_id),
    }
    return run_concurrently(checks, bound=timeouts.total + 2.0)
