"""The catalogue of finding codes: one row per code the library emits, saying what it means,
which section investigates it, how much it weighs in the incident's severity when it fails,
which sections a failure sends the responder to next (with what to do there), and who to call.

It is data: `runbook.incident.rules` reads it to rate a run, choose its `next` and name its
contacts, and no other module keys a rule by a code string. A row's weight, next steps and
contacts apply to a *failing* finding only (status `fail`): an `error` says the check could not
be made, which is evidence of nothing (see `Finding.failed`). A test holds the catalogue to
the codes the library's source can emit, both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from runbook.clients import slack
from runbook.core.findings import Finding

__all__ = ["CATALOGUE", "ISSUES", "MITIGATIONS", "WEIGHTS", "Code", "Issue", "Mitigation",
           "lookup"]

# What a failing code weighs: the SEV matrix's levels ("Full outage", "Major feature broken",
# the rest). None: the code says nothing about customers (the runbook's own tools and actions).
SEV1, SEV2, SEV3 = "SEV-1", "SEV-2", "SEV-3"
WEIGHTS = (SEV1, SEV2, SEV3, None)


@dataclass(frozen=True)
class Mitigation:
    """One step of the runbook's mitigation: what to do, in which section."""

    notebook: str              # the section to open; "" when the step is outside the notebooks
    action: str
    # Further condition on the failing finding (its evidence), e.g. which dependency failed.
    when: Callable[[Finding], bool] | None = None

    def applies_to(self, finding: Finding) -> bool:
        return self.when is None or self.when(finding)


@dataclass(frozen=True)
class Issue:
    """A row of the runbook's "Who to Contact" table (`[[contacts]] issue = …`), called for
    when `when` holds (always, when None)."""

    name: str
    when: Callable[[Finding], bool] | None = None

    def applies_to(self, finding: Finding) -> bool:
        return self.when is None or self.when(finding)


@dataclass(frozen=True)
class Code:
    code: str
    weight: str | None                  # one of WEIGHTS
    section: str                        # the notebook that investigates it
    next: tuple[Mitigation, ...]        # the steps a failure calls for
    call: tuple[Issue, ...]             # who to call when it fails: the first that applies
    meaning: str                        # one line, for a person
    # The service's health itself: passing means it is up, failing means it is down. The
    # incident's fold reads these as health checks (mitigation, resolution).
    health: bool = False


# --------------------------------------------------------------- evidence conditions

def deep_check_failing(*names: str) -> Callable[[Finding], bool]:
    """The deep check's failing dependencies (its `failing` evidence) include one of `names`."""
    def check(finding: Finding) -> bool:
        failing = finding.evidence.get("failing") or []
        return any(name in failing for name in names)
    return check


def deep_check_not_only_postgres(finding: Finding) -> bool:
    """Something other than postgres fails, or the deep check named nothing."""
    failing = finding.evidence.get("failing") or []
    return not failing or any(name != "postgres" for name in failing)


def name_did_not_resolve(finding: Finding) -> bool:
    """The probe's host name did not resolve (its `failure` evidence): the domain's DNS."""
    return finding.evidence.get("failure") == "dns"


# --------------------------------------------------------------- the mitigation steps, in order
# The order a responder acts in, most specific cause first: a wrong start command explains a
# 404 and a crash explains a 502. `next` lists the chosen steps in this order.

START_COMMAND = Mitigation(
    "api_404", "Set Railway → Settings → Start Command = /app/start.sh (or clear it) and "
    "redeploy: another app answers on the domain")
FAILED_DEPLOY = Mitigation(
    "api_404", "Read the failed deploy's logs, fix, redeploy; or fix the start command")
DATABASE_URL = Mitigation(
    "db_refused", "Fix DATABASE_URL from Railway's Postgres service and redeploy")
DEEP_POSTGRES = Mitigation(
    "db_refused", "The deep check's postgres fails: follow the database section",
    when=deep_check_failing("postgres"))
DEEP_HANGS = Mitigation(
    "db_refused", "The deep check hangs while /healthz answers: a dependency hangs; start with "
    "the database section")
WEBHOOK_SECRET = Mitigation(
    "webhook_401", "Make MOYASAR_WEBHOOK_SECRET identical in Railway and Moyasar's dashboard")
ROLLBACK_SPIKE = Mitigation(
    "rollback", "The error spike follows the latest deploy: roll it back")
ROLLBACK_CRASH = Mitigation(
    "rollback", "Roll back to the previous successful deployment if a recent change caused it, "
    "else restart the service")
ROLLBACK_DOWN = Mitigation(
    "rollback", "Roll back the last deploy if it caused this, else restart the service in "
    "Railway; then check env vars")
TELL_CUSTOMERS = Mitigation(
    "comms", "Tell customers and #dealix-alerts as the SEV matrix says (SEV-1: Slack + email "
    "customers; update within 30 minutes)")
SENTRY_ISSUES = Mitigation(
    "error_spike", "Not deploy-related: check Sentry's top issues and scale Railway resources")
DEEP_OTHER = Mitigation(
    "", "A dependency other than Postgres fails (redis, dlq, llm_providers), or the deep check "
    "named none: read its evidence; check REDIS_URL, the dead-letter queues' backlog, the LLM "
    "provider keys in Railway → Variables", when=deep_check_not_only_postgres)
MOYASAR_DOWN = Mitigation(
    "comms", "Moyasar's API is down: contact Moyasar support and post the customer notice")
MOYASAR_KEY = Mitigation("", "Moyasar refuses the secret key: compare it with the dashboard's")

# A section whose action was done in the incident (at the provider) while the service stays
# down is no answer a second time: the cause is elsewhere, and these sections come instead.
NOT_THE_DEPLOY = Mitigation(
    "db_refused", "Rolled back (or restarted) and still down: the deploy was not the cause. "
    "Check DATABASE_URL and the database, then the other variables")
READ_THE_ERRORS = Mitigation(
    "error_spike", "Read Sentry's top issues since the start: what the app fails on now")
INSTEAD_OF_AGAIN: dict[str, tuple[Mitigation, ...]] = {
    "rollback": (NOT_THE_DEPLOY, READ_THE_ERRORS),
    "db_refused": (READ_THE_ERRORS,),
}

MITIGATIONS: tuple[Mitigation, ...] = (
    START_COMMAND, FAILED_DEPLOY, DATABASE_URL, DEEP_POSTGRES, DEEP_HANGS, WEBHOOK_SECRET,
    ROLLBACK_SPIKE, ROLLBACK_CRASH, ROLLBACK_DOWN, TELL_CUSTOMERS, SENTRY_ISSUES, DEEP_OTHER,
    MOYASAR_DOWN, MOYASAR_KEY)

# --------------------------------------------------------------- who to call

BACKEND = Issue("backend")                    # Sami (founder, on-call 24/7)
PAYMENTS = Issue("payments")                  # Moyasar support
DNS = Issue("dns", when=name_did_not_resolve)  # the domain registrar
HOSTING = Issue("hosting")                    # Railway support
ISSUES = ("backend", "payments", "dns", "hosting")   # the table's rows, in the runbook's order

APP = (BACKEND,)
SITE = (DNS, BACKEND)       # a probe of the site: the registrar when its name did not resolve
PAY = (PAYMENTS,)
HOST = (HOSTING,)
NOBODY: tuple[Issue, ...] = ()
DB_STEPS = (DATABASE_URL,)
WEBHOOK_STEPS = (WEBHOOK_SECRET,)
OUTAGE_STEPS = (ROLLBACK_DOWN, TELL_CUSTOMERS)

# --------------------------------------------------------------- the codes
# Code(code, weight when it fails, section, next steps, who to call, meaning)

_SERVICE = (
    # /healthz, the deep check and the /api/v1 routes (checks.health, checks.api_routes)
    Code("health.ok", None, "sev1_response", (), NOBODY,
         "/healthz answers 200, and the deep check names no failing dependency", health=True),
    Code("health.down", SEV1, "sev1_response", OUTAGE_STEPS, SITE,
         "the app does not answer, or answers 5xx or not as the Dealix API: nobody can use it",
         health=True),
    Code("health.timeout", SEV1, "sev1_response", OUTAGE_STEPS, SITE,
         "the app did not answer within the probe's timeout", health=True),
    Code("health.degraded", SEV2, "sev1_response", (DEEP_POSTGRES, DEEP_OTHER), APP,
         "the app answers but its deep check names a failing dependency (postgres, redis…)"),
    Code("health.deep_timeout", SEV2, "sev1_response", (DEEP_HANGS,), APP,
         "/healthz answers but the deep check does not: a dependency hangs"),
    Code("health.wrong_app", SEV2, "api_404", (START_COMMAND,), APP,
         "/healthz and the public /api/v1 route answer 404: another app answers on the domain"),
    Code("health.healthz", None, "sev1_response", (), NOBODY,
         "the /healthz probe itself could not run (only ever an error)"),
    Code("health.deep", None, "sev1_response", (), NOBODY,
         "the deep check's probe itself could not run (only ever an error)"),
    Code("api.ok", None, "api_404", (), NOBODY,
         "an /api/v1 route answers as the API does (200 public, 401 or 405 protected)"),
    Code("api.not_found", SEV2, "api_404", (FAILED_DEPLOY,), APP,
         "an /api/v1 route answers 404 (or not as expected): the API is not what answers"),
    Code("api.unprotected", SEV3, "api_404", (), APP,
         "a protected /api/v1 route answered 200 without an API key"),
    Code("api.public", None, "api_404", (), NOBODY,
         "the public /api/v1 route's probe could not run (only ever an error)"),
    Code("api.protected", None, "api_404", (), NOBODY,
         "the protected /api/v1 route's probe could not run (only ever an error)"),
    # Railway's deployments (checks.deploys; rollback watches a new one the same way)
    Code("deploy.ok", None, "sev1_response", (), NOBODY,
         "the latest deployment is Active (SUCCESS) or sleeping"),
    Code("deploy.crashed", SEV1, "sev1_response", (ROLLBACK_CRASH, TELL_CUSTOMERS), APP,
         "the running deployment crashed"),
    Code("deploy.failed", SEV2, "api_404", (FAILED_DEPLOY,), APP,
         "the latest deployment failed to build or deploy"),
    Code("deploy.in_progress", SEV3, "sev1_response", (), APP,
         "a deployment is still building or deploying"),
    Code("deploy.replaced", None, "sev1_response", (), NOBODY,
         "the deployment was replaced by a newer one (not a failure)"),
    Code("deploy.skipped", None, "sev1_response", (), NOBODY,
         "Railway skipped the deployment: the running one is unchanged"),
    Code("deploy.unknown_status", None, "sev1_response", (), NOBODY,
         "the deployment has a status the runbook does not know (an error, never a pass)"),
    Code("deploy.recent", None, "sev1_response", (), NOBODY,
         "the last deploy is recent enough to suspect (informational)"),
    Code("deploy.not_recent", None, "sev1_response", (), NOBODY,
         "no deploy in the last hour (informational)"),
    Code("deploy.start_command_ok", None, "api_404", (), NOBODY,
         "the service's start command is the expected one, or not overridden"),
    Code("deploy.start_command_wrong", SEV2, "api_404", (START_COMMAND,), APP,
         "the service's start command is not the API's: another app answers"),
    # Postgres (sections.db_refused; the SEV-1 probes' SELECT 1 reads failures the same way)
    Code("db.ok", None, "db_refused", (), NOBODY,
         "Postgres accepts the app's DATABASE_URL and answers SELECT 1"),
    Code("db.url_missing", SEV2, "db_refused", DB_STEPS, APP, "DATABASE_URL is not set"),
    Code("db.url_invalid", SEV2, "db_refused", DB_STEPS, APP,
         "DATABASE_URL is not a connection string that parses"),
    Code("db.url_matches", None, "db_refused", (), NOBODY,
         "the app's DATABASE_URL is the Postgres service's current one"),
    Code("db.url_mismatch", SEV2, "db_refused", DB_STEPS, APP,
         "the app's DATABASE_URL differs from the Postgres service's (or cannot be compared)"),
    Code("db.dns_failed", SEV2, "db_refused", DB_STEPS, HOST, "the database host does not resolve"),
    Code("db.refused", SEV2, "db_refused", DB_STEPS, APP,
         "nothing listens at the database's host and port"),
    Code("db.timeout", SEV2, "db_refused", DB_STEPS, APP, "the database did not answer in time"),
    Code("db.ssl_required", SEV2, "db_refused", DB_STEPS, APP,
         "the client and the server disagree on TLS"),
    Code("db.auth_failed", SEV2, "db_refused", DB_STEPS, APP,
         "the server refused the URL's user or password"),
    Code("db.database_missing", SEV2, "db_refused", DB_STEPS, APP,
         "the database named in the URL does not exist"),
    Code("db.too_many_connections", SEV2, "db_refused", DB_STEPS, APP,
         "every connection slot of the server is taken"),
    Code("db.starting_up", SEV2, "db_refused", DB_STEPS, APP,
         "Postgres is starting up, shutting down or recovering"),
    Code("db.connect_failed", SEV2, "db_refused", DB_STEPS, APP,
         "the connection failed for a reason not in the runbook's table"),
    Code("db.service_ok", None, "db_refused", (), NOBODY,
         "the Postgres service's latest deployment is Active"),
    Code("db.service_down", SEV2, "db_refused", DB_STEPS, APP,
         "the Postgres service has no active deployment"),
    Code("db.service_status", None, "db_refused", (), NOBODY,
         "the Postgres service's status could not be read (only ever an error or skipped)"),
    # Moyasar's webhook secret and deliveries (sections.webhook_401, checks.payments)
    Code("webhook.ok", None, "webhook_401", (), NOBODY,
         "the app and Moyasar's dashboard hold the same webhook secret, and the app accepts it"),
    Code("webhook.secret_mismatch", SEV2, "webhook_401", WEBHOOK_STEPS, PAY,
         "the app's and the dashboard's webhook secrets are different strings"),
    Code("webhook.secret_whitespace", SEV2, "webhook_401", WEBHOOK_STEPS, PAY,
         "the two webhook secrets differ only by whitespace or quotes"),
    Code("webhook.secret_missing", SEV2, "webhook_401", WEBHOOK_STEPS, PAY,
         "a copy of the webhook secret is not set"),
    Code("webhook.app_stale", SEV2, "webhook_401", WEBHOOK_STEPS, PAY,
         "Railway's variable is right but the running app still rejects it (not redeployed)"),
    Code("webhook.endpoint_checks", SEV3, "webhook_401", WEBHOOK_STEPS, PAY,
         "whether the webhook endpoint refuses a random token, as it must"),
    Code("webhook.app_copy_accepted", SEV3, "webhook_401", WEBHOOK_STEPS, PAY,
         "whether the running app accepts Railway's copy of the secret"),
    Code("webhook.dashboard_copy_accepted", SEV3, "webhook_401", WEBHOOK_STEPS, PAY,
         "whether the running app accepts the dashboard's copy, as Moyasar's deliveries carry"),
    Code("webhook.deliveries", SEV3, "webhook_401", WEBHOOK_STEPS, PAY,
         "Moyasar deliveries answered 401 in the window, with the payments to reconcile"),
    # Moyasar's API (checks.moyasar)
    Code("moyasar.ok", None, "sev1_response", (), NOBODY, "Moyasar's API answers"),
    Code("moyasar.down", SEV2, "sev1_response", (MOYASAR_DOWN,), PAY,
         "Moyasar's API fails (5xx, timeout, refused): payments cannot complete"),
    Code("moyasar.key_rejected", SEV3, "sev1_response", (MOYASAR_KEY,), PAY,
         "Moyasar answers but refuses the secret key (a key problem, not an outage)"),
    # Sentry's error rate (checks.sentry, sections.error_spike)
    Code("errors.normal", None, "error_spike", (), NOBODY, "the error rate is normal"),
    Code("errors.spike", SEV2, "error_spike", (SENTRY_ISSUES,), APP,
         "the error rate spiked, not tied to a deploy"),
    Code("errors.spike_after_deploy", SEV2, "error_spike", (ROLLBACK_SPIKE,), APP,
         "the error rate spiked right after the latest deploy"),
    Code("sentry.series", None, "error_spike", (), NOBODY,
         "Sentry's error series was read (only used inside the section)"),
    # UptimeRobot (checks.uptime)
    Code("uptime.up", None, "sev1_response", (), NOBODY, "UptimeRobot sees the site up",
         health=True),
    Code("uptime.down", SEV1, "sev1_response", OUTAGE_STEPS, APP,
         "UptimeRobot confirms the site is down (and since when)", health=True),
)

_MONITORING = (
    # the monthly monitoring check (sections.monitoring_check): is anyone still watching
    Code("uptime.paused", None, "monitoring_check", (), NOBODY,
         "an UptimeRobot monitor is paused: nobody watches it"),
    Code("uptime.not_checked", None, "monitoring_check", (), NOBODY,
         "an UptimeRobot monitor has not been checked yet"),
    Code("uptime.stale", None, "monitoring_check", (), NOBODY,
         "an UptimeRobot monitor shows no recent check: it may have stopped polling"),
    Code("uptime.polling", None, "monitoring_check", (), NOBODY,
         "an UptimeRobot monitor is active and checked recently"),
    Code("uptime.no_monitors", None, "monitoring_check", (), NOBODY,
         "UptimeRobot has no monitor: nothing watches Dealix"),
    Code("uptime.monitors", None, "monitoring_check", (), NOBODY,
         "UptimeRobot's monitors could not be read"),
    Code("sentry.test_event", None, "monitoring_check", (), NOBODY,
         "the Sentry test error could not be sent or looked for"),
    Code("sentry.test_event_received", None, "monitoring_check", (), NOBODY,
         "Sentry received the test error: errors reach it"),
    Code("sentry.test_event_missing", None, "monitoring_check", (), NOBODY,
         "Sentry did not show the test error in time: alerts may not fire"),
    Code("sentry.test_event_dropped", None, "monitoring_check", (), NOBODY,
         "the Sentry SDK dropped the test error"),
    Code("sentry.dsn_invalid", None, "monitoring_check", (), NOBODY,
         "the configured Sentry DSN is not a valid DSN"),
    Code("slack.webhook", None, "monitoring_check", (), NOBODY,
         "the Slack webhook could not be tried"),
    Code("contacts.verified", None, "monitoring_check", (), NOBODY,
         "an emergency contact was confirmed recently"),
    Code("contacts.stale", None, "monitoring_check", (), NOBODY,
         "an emergency contact was last confirmed too long ago"),
    Code("contacts.unverified", None, "monitoring_check", (), NOBODY,
         "an emergency contact was never confirmed"),
    Code("contacts.none", None, "monitoring_check", (), NOBODY,
         "the config has no emergency contacts"),
)


def _told(code: str, meaning: str) -> Code:
    """The customer and team messages (sections.comms): the runbook's own deliveries."""
    return Code(code, None, "comms", (), NOBODY, meaning)


_COMMS = (
    _told("slack.post", "the #dealix-alerts post (the action)"),
    _told("slack.posted", "Slack accepted the message"),
    _told("slack.failed", "Slack refused the message with an answer it does not document"),
    _told("slack.rate_limited", "Slack rate-limits the webhook: the message was not posted"),
    _told("slack.unreachable", "Slack could not be reached"),
    _told("slack.not_configured", "the Slack webhook's env var is not set"),
    _told("slack.not_called_for", "the severity does not call for Slack"),
    *(_told(f"slack.{error}", f"Slack refused the message: {meaning}")
      for error, (meaning, _) in slack.ERRORS.items()),
    _told("email.customers", "the customer email (the action)"),
    _told("email.sent", "every recipient accepted the customer email"),
    _told("email.partly_sent", "some recipients of the customer email were refused"),
    _told("email.auth_failed", "the SMTP server refused the login, or its password is not set"),
    _told("email.recipients_refused", "the SMTP server refused the recipients"),
    _told("email.recipients_invalid", "the recipients list cannot be read"),
    _told("email.no_recipients", "the customer email has no recipients"),
    _told("email.failed", "the SMTP server refused the email"),
    _told("email.unreachable", "the SMTP server could not be reached"),
    _told("email.not_configured", "there is no [email] section"),
    _told("email.not_called_for", "the severity does not call for the customer email"),
    _told("statuspage.create", "opening the status page incident (the action)"),
    _told("statuspage.update", "moving the status page incident on (the action)"),
    _told("statuspage.updated", "the status page incident is at the status asked for"),
    _told("statuspage.auth_failed", "Statuspage refused the API key"),
    _told("statuspage.rate_limited", "Statuspage rate-limits the key"),
    _told("statuspage.unreachable", "Statuspage could not be reached"),
    _told("statuspage.failed", "Statuspage refused the change"),
    _told("statuspage.out_of_order", "the status page incident cannot go back to that status"),
    _told("statuspage.not_configured", "Statuspage is not configured, or its key is not set"),
    _told("statuspage.not_called_for", "the severity does not call for the status page"),
)


def _act(code: str, section: str, meaning: str, call: tuple[Issue, ...] = NOBODY) -> Code:
    """A mitigation action (sections.rollback and the variable fixes): what the runbook did."""
    return Code(code, None, section, (), call, meaning)


_ACTIONS = (
    _act("railway.rollback", "rollback", "rolling back to the previous successful deployment",
         HOST),
    _act("railway.restart", "rollback", "restarting the latest deployment", HOST),
    _act("railway.redeploy", "rollback", "redeploying the latest deployment", HOST),
    _act("railway.rollback_blocked", "rollback", "the rollback could not be planned", HOST),
    _act("railway.restart_blocked", "rollback", "the restart could not be planned", HOST),
    _act("railway.redeploy_blocked", "rollback", "the redeploy could not be planned", HOST),
    _act("railway.variable_upsert", "db_refused",
         "setting a Railway variable (DATABASE_URL, MOYASAR_WEBHOOK_SECRET), which redeploys",
         HOST),
    _act("git.revert", "rollback", "reverting the bad commit and pushing the revert"),
    _act("git.revert_blocked", "rollback", "the revert cannot be planned in the clone"),
    _act("git.revert_conflict", "rollback", "the revert does not apply cleanly"),
    _act("git.push_failed", "rollback", "the push of the revert was refused"),
    _act("git.pushed", "rollback", "whether the branch is at the pushed revert"),
)
_ACTION_NAMES = ("railway.rollback", "railway.restart", "railway.redeploy",
                 "railway.variable_upsert", "git.revert", "slack.post", "email.customers",
                 "statuspage.create", "statuspage.update")


def _unknown_outcomes(rows: Iterable[Code]) -> tuple[Code, ...]:
    """`<action>.unknown`: the call was sent but its outcome was not seen (only ever an error:
    a later run checks the service before acting again)."""
    return tuple(Code(f"{row.code}.unknown", None, row.section, (), row.call,
                      f"the outcome of {row.code} is unknown: it may have been done")
                 for row in rows if row.code in _ACTION_NAMES)


CATALOGUE: dict[str, Code] = {row.code: row for row in (
    *_SERVICE, *_MONITORING, *_COMMS, *_ACTIONS, *_unknown_outcomes((*_COMMS, *_ACTIONS)))}


def lookup(code: str) -> Code | None:
    """The code's row; None for a code the catalogue does not hold (an old record's)."""
    return CATALOGUE.get(code)


# --------------------------------------------------------------- what changed, and what follows
# A postmortem names the change that set an incident off (its trigger) from a small fixed list,
# and proposes follow-ups (work after the incident, not the steps taken during it). Only a
# *cause* finding has a trigger: a code missing here (health.down, uptime.down, errors.spike…)
# is a symptom, what customers saw, never the reason for it. `incident.trigger` reads these.

DEPLOY, CONFIG, DEPENDENCY, TRAFFIC, INFRASTRUCTURE, DATA, UNKNOWN = (
    "deploy", "config", "dependency", "traffic", "infrastructure", "data", "unknown")
TRIGGER_TAGS = (DEPLOY, CONFIG, DEPENDENCY, TRAFFIC, INFRASTRUCTURE, DATA, UNKNOWN)


@dataclass(frozen=True)
class Cause:
    """A failing code read as the cause: its trigger tag and what the change did, in words
    that follow the change's name ("Deploy 8aa2fa7 crashed on start")."""

    tag: str                   # one of TRIGGER_TAGS
    did: str


CAUSES: dict[str, Cause] = {
    "deploy.crashed": Cause(DEPLOY, "crashed the running service"),
    "deploy.failed": Cause(DEPLOY, "failed to build or deploy"),
    "errors.spike_after_deploy": Cause(DEPLOY, "raised the error rate"),
    "deploy.start_command_wrong": Cause(CONFIG, "set a start command that is not the API's"),
    "health.wrong_app": Cause(CONFIG, "left another app answering on the API's domain"),
    "db.url_missing": Cause(CONFIG, "left DATABASE_URL unset"),
    "db.url_invalid": Cause(CONFIG, "left DATABASE_URL unparseable"),
    "db.url_mismatch": Cause(CONFIG, "pointed DATABASE_URL away from the Postgres service"),
    "db.ssl_required": Cause(CONFIG, "made the app and Postgres disagree on TLS"),
    "db.auth_failed": Cause(CONFIG, "gave the app a database user or password Postgres refuses"),
    "db.database_missing": Cause(CONFIG, "named a database that does not exist"),
    "webhook.secret_mismatch": Cause(CONFIG, "made the app's and Moyasar's webhook secrets "
                                     "differ"),
    "webhook.secret_whitespace": Cause(CONFIG, "left whitespace in a copy of the webhook "
                                       "secret"),
    "webhook.secret_missing": Cause(CONFIG, "left a copy of the webhook secret unset"),
    "webhook.app_stale": Cause(CONFIG, "changed the webhook secret without a redeploy"),
    "moyasar.down": Cause(DEPENDENCY, "took Moyasar's API down"),
    "moyasar.key_rejected": Cause(CONFIG, "left a secret key Moyasar refuses"),
    "health.degraded": Cause(DEPENDENCY, "broke a dependency the deep check names"),
    "health.deep_timeout": Cause(DEPENDENCY, "made a dependency hang"),
    "db.dns_failed": Cause(INFRASTRUCTURE, "made the database host stop resolving"),
    "db.refused": Cause(INFRASTRUCTURE, "left nothing listening at the database's address"),
    "db.timeout": Cause(INFRASTRUCTURE, "made the database stop answering in time"),
    "db.starting_up": Cause(INFRASTRUCTURE, "restarted or recovered Postgres"),
    "db.service_down": Cause(INFRASTRUCTURE, "left the Postgres service without a deployment"),
    "db.connect_failed": Cause(INFRASTRUCTURE, "broke the app's connection to Postgres"),
    "db.too_many_connections": Cause(TRAFFIC, "took every Postgres connection slot"),
    "errors.spike": Cause(TRAFFIC, "raised the error rate with no deploy before it"),
}

PREVENT, DETECT, MITIGATE, PROCESS = "prevent", "detect", "mitigate", "process"
FOLLOW_UP_TYPES = (PREVENT, DETECT, MITIGATE, PROCESS)


@dataclass(frozen=True)
class FollowUp:
    """Work after the incident, proposed for a failing code: a postmortem's action item."""

    type: str                  # one of FOLLOW_UP_TYPES
    title: str


FOLLOW_UPS: dict[str, tuple[FollowUp, ...]] = {
    "deploy.crashed": (
        FollowUp(PREVENT, "Add a start-up smoke test to CI that boots the image and calls "
                          "/healthz before a deploy can go out"),
        FollowUp(MITIGATE, "Turn on Railway's health check so a crashing deploy never "
                           "replaces the running one")),
    "deploy.failed": (
        FollowUp(PREVENT, "Build the image in CI on every pull request so a broken build "
                          "never reaches Railway"),),
    "errors.spike_after_deploy": (
        FollowUp(PREVENT, "Add a test for the code path the deploy broke"),
        FollowUp(MITIGATE, "Watch Sentry for 15 minutes after each deploy, with rollback "
                           "ready")),
    "deploy.start_command_wrong": (
        FollowUp(PREVENT, "Keep the start command in railway.toml under review, not in the "
                          "dashboard"),),
    "health.wrong_app": (
        FollowUp(DETECT, "Alert when /api/v1 answers 404, not only when /healthz fails"),),
    "db.url_mismatch": (
        FollowUp(PREVENT, "Reference DATABASE_URL from the Postgres service (a Railway "
                          "variable reference), never a pasted copy"),),
    "webhook.secret_mismatch": (
        FollowUp(PREVENT, "Write down the webhook secret rotation as one checklist: Moyasar, "
                          "Railway, redeploy, test delivery"),
        FollowUp(DETECT, "Alert on Moyasar webhook deliveries answered 401")),
    "webhook.app_stale": (
        FollowUp(PROCESS, "Redeploy after every change of a Railway variable"),),
    "moyasar.down": (
        FollowUp(MITIGATE, "Queue payment attempts while Moyasar is down and tell customers "
                           "from the status page"),),
    "db.too_many_connections": (
        FollowUp(PREVENT, "Put a connection pool limit below Postgres's max_connections"),),
    "errors.spike": (
        FollowUp(DETECT, "Break the error alert down by Sentry issue so a spike names its "
                         "cause"),),
    "health.down": (
        FollowUp(PROCESS, "Rehearse this outage as a drill (`runbook drill`) each quarter"),),
    "uptime.down": (
        FollowUp(DETECT, "Check UptimeRobot's interval: an alert should come within 2 minutes "
                         "of the outage"),),
}

# What customers saw, in a postmortem's title, for the failing symptom codes (first that
# failed, in this order); health.down says its HTTP status when its evidence has one.
EFFECTS: dict[str, str] = {
    "health.down": "the API down",
    "health.timeout": "the API not answering",
    "uptime.down": "the site down",
    "health.wrong_app": "404s from the API",
    "api.not_found": "404s from the API",
    "errors.spike_after_deploy": "an error spike",
    "errors.spike": "an error spike",
    "webhook.deliveries": "payment webhooks refused",
    "moyasar.down": "payments failing",
    "health.degraded": "a degraded API",
    "db.refused": "the database unreachable",
}
HEALTH_DOWN = "health.down"
ERROR_RATE_CODES = ("errors.normal", "errors.spike", "errors.spike_after_deploy")
PAYMENTS_AT_RISK = "webhook.deliveries"   # the webhook section's count of payments to reconcile

# The trigger tag of each cause code, and what a mitigation that worked says of the trigger when
# no cause was observed (a rollback undid a deploy). Views of `CAUSES`, for comparisons.
TRIGGERS = TRIGGER_TAGS
TRIGGER_OF: dict[str, str] = {code: cause.tag for code, cause in CAUSES.items()}
TRIGGER_OF_MITIGATION: dict[str, str] = {
    "railway.rollback": DEPLOY, "git.revert": DEPLOY, "railway.variable_upsert": CONFIG,
}

# --------------------------------------------------------------- what is broken, in words
# The verdict's first line says what is broken as a person would on the phone: by code, or by
# the code's family (`db.` …); a code in neither says its catalogue meaning.
BROKEN_WORDS: dict[str, str] = {
    "health.down": "API down", "health.timeout": "API timing out",
    "health.degraded": "API degraded", "health.deep_timeout": "API's dependencies hang",
    "health.wrong_app": "another app answers on the API's domain",
    "api.not_found": "API routes answer 404", "api.unprotected": "API routes unprotected",
    "deploy.crashed": "latest deploy crashed", "deploy.failed": "latest deploy failed",
    "deploy.in_progress": "a deploy is still rolling out",
    "deploy.start_command_wrong": "wrong start command",
    "uptime.down": "down for UptimeRobot", "moyasar.down": "payments down (Moyasar)",
    "moyasar.key_rejected": "Moyasar refuses the key",
    "db.": "database unreachable", "webhook.": "payment webhooks refused",
    "errors.": "error spike in Sentry",
}


def broken_in_words(finding: Finding) -> str:
    """"API down (502)": what a failing finding says is broken, in a few words."""
    words = BROKEN_WORDS.get(finding.code) or next(
        (text for prefix, text in BROKEN_WORDS.items()
         if prefix.endswith(".") and finding.code.startswith(prefix)), "")
    if not words:
        row = lookup(finding.code)
        return row.meaning if row is not None else finding.code
    status = finding.evidence.get("http_status")
    if finding.code == "health.down":
        return f"{words} ({status})" if status else f"{words} (not answering)"
    return words
