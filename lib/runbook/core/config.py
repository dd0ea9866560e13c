"""The target config (`runbook.toml`): which Dealix to look at, and where its services live.

The file holds only the *names* of environment variables for secrets (every key ending in
`_env`); values are read through `runbook.core.redaction`. Loading validates everything up front: a
missing file, section or key, an unknown key (usually a typo) or a wrong type raises
`ConfigError` naming the file and the key, before anything is started.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runbook.core.durations import DurationError, parse_duration
from runbook.core.errors import ConfigError
from runbook.core.redaction import registry

DEFAULT_CONFIG = "runbook.toml"
CONFIG_ENV = "RUNBOOK_CONFIG"


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    base_url: str
    healthz_path: str = "/healthz"
    deep_health_path: str = "/healthz?deep=1"
    api_probe_path: str = "/api/v1/pricing/plans"
    protected_probe_path: str = "/api/v1/leads"  # any /api/v1 route that needs X-API-Key
    webhook_path: str = "/api/v1/webhooks/moyasar"


@dataclass(frozen=True)
class ProbesConfig:
    connect_timeout: float = 3.0   # seconds to open a TCP connection
    read_timeout: float = 5.0      # seconds to wait for an answer (a Slack post waits at least 10)


@dataclass(frozen=True)
class RailwayConfig:
    project_id: str
    environment_id: str
    service_id: str
    api_url: str = "https://backboard.railway.com/graphql/v2"
    token_env: str = "RAILWAY_TOKEN"
    # "account" (Authorization: Bearer) or "project" (Project-Access-Token)
    token_kind: str = "account"
    expected_start_command: str = "/app/start.sh"


@dataclass(frozen=True)
class DatabaseConfig:
    url_env: str = "DATABASE_URL"
    railway_service_id: str = ""   # the Railway Postgres service, for its status and current URL
    connect_timeout: float = 3.0


@dataclass(frozen=True)
class MoyasarConfig:
    api_url: str = "https://api.moyasar.com/v1"
    secret_key_env: str = "MOYASAR_SECRET_KEY"
    webhook_secret_env: str = "MOYASAR_WEBHOOK_SECRET"
    dashboard_secret_env: str = "MOYASAR_DASHBOARD_WEBHOOK_SECRET"
    max_pages: int = 50            # pages of a Moyasar list read at most (payments, attempts)


@dataclass(frozen=True)
class SentryConfig:
    org: str
    project: str
    api_url: str = "https://sentry.io/api/0"
    token_env: str = "SENTRY_AUTH_TOKEN"
    dsn_env: str = "SENTRY_DSN"
    project_id: str = ""           # numeric id for events-stats; the slug is looked up when empty
    error_query: str = "event.type:error"   # the Sentry search that counts as an error


@dataclass(frozen=True)
class UptimeRobotConfig:
    api_url: str = "https://api.uptimerobot.com/v2"
    api_key_env: str = "UPTIMEROBOT_API_KEY"
    monitor_id: int = 0


@dataclass(frozen=True)
class SlackConfig:
    webhook_url_env: str = "SLACK_WEBHOOK_URL"
    channel: str = "#dealix-alerts"
    # Buttons on serve's verdict need a Slack app: its bot token (chat:write) and the signing
    # secret its interactivity requests are signed with. Without a bot token: no buttons.
    bot_token_env: str = "SLACK_BOT_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    responders: list[str] = field(default_factory=list)   # Slack user ids allowed to confirm
    api_url: str = "https://slack.com/api"
    plan_max_age_minutes: float = 15.0   # a button older than this is refused, re-planned
    # A link to an incident's record for people ({incident} is replaced): an internal viewer
    # or the bucket's console. Empty: the verdict names the command that shows it.
    record_url: str = ""


@dataclass(frozen=True)
class EmailConfig:
    smtp_host: str
    from_address: str
    smtp_port: int = 587
    security: str = "starttls"     # "starttls", "ssl" or "none" (loopback tests only)
    username: str = ""
    password_env: str = "SMTP_PASSWORD"
    recipients_csv: str = ""       # CSV with an `email` column: the customers to notify


@dataclass(frozen=True)
class StatuspageConfig:
    page_id: str
    api_url: str = "https://api.statuspage.io/v1"
    api_key_env: str = "STATUSPAGE_API_KEY"
    component_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GitConfig:
    repo_path: str = "."
    remote: str = "origin"
    branch: str = "main"


@dataclass(frozen=True)
class ArchiveConfig:
    runs_dir: str = "runs"
    url: str = ""                  # s3://bucket/prefix: a team's shared archive ("" = runs_dir)
    endpoint_url: str = ""         # R2, MinIO…; AWS_ENDPOINT_URL works too
    postmortems_dir: str = "docs/ops/postmortems"


@dataclass(frozen=True)
class ServeConfig:
    """`runbook serve`: alert webhooks in, headless runs and a Slack verdict out."""

    token_env: str = "RUNBOOK_SERVE_TOKEN"          # the alert URLs' token (UptimeRobot, Railway)
    sentry_secret_env: str = "SENTRY_CLIENT_SECRET"  # the Sentry integration's client secret
    host: str = "127.0.0.1"
    port: int = 8080
    queue_size: int = 10                 # runs waiting; a full queue answers 503
    incident_window_minutes: float = 60.0   # alerts this close together join one incident
    rerun_after_minutes: float = 30.0    # a repeated alert reruns a notebook after this long
    reopen_window_minutes: float = 30.0  # its signal alerting again this soon after it was
                                         # resolved reopens an incident (no second one)
    run_deadline_seconds: float = 600.0  # each run's --deadline
    uptimerobot_notebook: str = "sev1_response"
    sentry_notebook: str = "error_spike"
    railway_crashed_notebook: str = "sev1_response"
    railway_failed_notebook: str = "api_404"
    slack_attempts: int = 4              # tries of one Slack post, with backoff between
    slack_backoff_seconds: float = 1.0
    monitoring_check_cron: str = "0 6 1 * *"   # UTC crontab; "" turns the job off
    due_cron: str = "0 7 * * *"                # UTC crontab; "" turns the job off
    body_deadline_seconds: float = 10.0  # a request's head, and its body, each within this
    unauthenticated_at_once: int = 32    # signed bodies read at once before their check


@dataclass(frozen=True)
class Responder:
    """One person on call, in paging order: who is mentioned and emailed when nobody acks."""

    name: str
    slack_id: str                  # member id (U…/W…): what a mention and a press carry
    email: str


DEFAULT_TIMEZONE = "Asia/Riyadh"


@dataclass(frozen=True)
class OncallConfig:
    """Acknowledge, escalate, pause flapping, verify mitigation, remind of status updates.
    Durations are written `10s`, `5m`, `1h` (see core/durations)."""

    responders: list[Responder] = field(default_factory=list)   # who is paged, in order
    timezone: str = DEFAULT_TIMEZONE     # every time a person reads is shown in this zone
    show_utc: bool = False               # also show UTC beside it
    ack_timeout: str = ""                # one timeout for every SEV; "" = the per-SEV ones
    ack_timeout_sev1: str = "5m"         # unacknowledged this long, a SEV-1 escalates
    ack_timeout_sev2: str = "15m"        # unacknowledged this long, a SEV-2 escalates
    repage_every: str = "5m"             # after the first escalation, page the next this often
    flap_count: int = 4                  # a signal changing more often than this in flap_window
    flap_window: str = "15m"             # is flapping: one notice, then quiet until it is stable
    stabilisation: str = "2m"            # health must hold this long before `mitigated`
    status_update_sev1: str = "30m"      # remind when the last public update is older
    status_update_sev2: str = "60m"      # the same for a SEV-2

    def ack_timeout_for(self, severity: str) -> timedelta:
        if self.ack_timeout:
            return parse_duration(self.ack_timeout)
        return parse_duration(self.ack_timeout_sev1 if severity == "SEV-1"
                              else self.ack_timeout_sev2)

    def status_update_every(self, severity: str) -> timedelta:
        return parse_duration(self.status_update_sev1 if severity == "SEV-1"
                              else self.status_update_sev2)

    def duration(self, name: str) -> timedelta:
        """One of the duration keys (`repage_every`, `flap_window`, `stabilisation`…)."""
        return parse_duration(getattr(self, name))

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def slack_ids(self) -> list[str]:
        return [responder.slack_id for responder in self.responders]


_ONCALL_DURATIONS = ("ack_timeout", "ack_timeout_sev1", "ack_timeout_sev2", "repage_every",
                     "flap_window", "stabilisation", "status_update_sev1", "status_update_sev2")


@dataclass(frozen=True)
class Contact:
    name: str
    role: str
    issue: str                     # the runbook's "Issue" column: backend, payments, dns, hosting
    channel: str = ""
    phone: str = ""
    verified: str = ""             # ISO date the details were last confirmed


@dataclass(frozen=True)
class Config:
    path: Path
    service: ServiceConfig
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    railway: RailwayConfig | None = None
    database: DatabaseConfig | None = None
    moyasar: MoyasarConfig | None = None
    sentry: SentryConfig | None = None
    uptimerobot: UptimeRobotConfig | None = None
    slack: SlackConfig | None = None
    email: EmailConfig | None = None
    statuspage: StatuspageConfig | None = None
    git: GitConfig | None = None
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    serve: ServeConfig | None = None
    oncall: OncallConfig | None = None
    contacts: list[Contact] = field(default_factory=list)

    def secret_env_names(self) -> list[str]:
        """Every env var name the config points at: each holds a secret (tokens, keys, URLs)."""
        names: list[str] = []
        for section in self.sections().values():
            for f in dataclasses.fields(section):
                if f.name.endswith("_env"):
                    value = getattr(section, f.name)
                    if value and value not in names:
                        names.append(value)
        return names

    def register_secrets(self) -> None:
        """Read every secret the config names into the secret registry, so that it is redacted
        wherever it shows up. The one place this happens: the runner, the session, the archive
        and the postmortem all call it. An unset variable is simply not registered."""
        for name in self.secret_env_names():
            registry().read_env(name)

    def sections(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SECTIONS
                if getattr(self, name) is not None}

    def url(self, path: str) -> str:
        return self.service.base_url.rstrip("/") + "/" + path.lstrip("/")

    def runs_dir(self) -> Path:
        """Where records go: RUNBOOK_RUNS_DIR, else `[archive] runs_dir` beside the config
        (a relative path in the file is read from the file's folder, never the current one)."""
        override = os.environ.get("RUNBOOK_RUNS_DIR")
        if override:
            return Path(override).absolute()
        return self.resolve(self.archive.runs_dir)

    def resolve(self, configured: str) -> Path:
        """A path written in the config file, read against the file's folder."""
        path = Path(configured).expanduser()
        return path if path.is_absolute() else (self.path.absolute().parent / path)


_SECTIONS: dict[str, type] = {
    "service": ServiceConfig,
    "probes": ProbesConfig,
    "railway": RailwayConfig,
    "database": DatabaseConfig,
    "moyasar": MoyasarConfig,
    "sentry": SentryConfig,
    "uptimerobot": UptimeRobotConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
    "statuspage": StatuspageConfig,
    "git": GitConfig,
    "archive": ArchiveConfig,
    "serve": ServeConfig,
    "oncall": OncallConfig,
}
_REQUIRED_SECTIONS = ("service",)
_CHOICES = {
    ("railway", "token_kind"): ("account", "project"),
    ("email", "security"): ("starttls", "ssl", "none"),
}


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The config path to use: the one given, else $RUNBOOK_CONFIG, else ./runbook.toml."""
    if path:
        return Path(path)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    config_path = resolve_path(path)
    if not config_path.is_file():
        raise ConfigError(
            f"config file {config_path} not found: copy runbook.example.toml to {config_path}, "
            f"or pass --config PATH (or set {CONFIG_ENV})")
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{config_path}: not a runbook config: its arrays or tables are "
                          "nested too deeply to read") from None
    return parse_config(raw, config_path)


def parse_config(raw: dict[str, Any], config_path: Path) -> Config:
    where = str(config_path)
    unknown = sorted(set(raw) - set(_SECTIONS) - {"contacts"})
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}]; known sections: "
                          + ", ".join(sorted([*_SECTIONS, "contacts"])))
    for name in _REQUIRED_SECTIONS:
        if name not in raw:
            raise ConfigError(f"{where}: missing section [{name}]")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in raw:
            table = raw[name]
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: [{name}] must be a table, got {_type_name(table)}")
            sections[name] = _build(cls, table, f"[{name}]", where, name)
    contacts = _contacts(raw.get("contacts", []), where)
    config = Config(path=config_path, contacts=contacts, **sections)
    _check_urls(config, where)
    _check_client_limits(config, where)
    return config


def _contacts(value: Any, where: str) -> list[Contact]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: contacts must be an array of tables ([[contacts]])")
    result = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: contacts[{index}] must be a table")
        result.append(_build(Contact, item, f"[[contacts]] #{index + 1}", where, "contacts"))
    return result


def _build(cls: type, table: dict[str, Any], label: str, where: str, section: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {label} {unknown[0]}; known keys: "
                          + ", ".join(fields))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing key {label} {name}")
            continue
        value = _coerce(table[name], hints[name], f"{label} {name}", where)
        choices = _CHOICES.get((section, name))
        if choices and value not in choices:
            raise ConfigError(f"{where}: {label} {name} = {value!r}; expected one of "
                              + ", ".join(choices))
        if name.endswith("_env") and value and not _is_env_name(value):
            raise ConfigError(
                f"{where}: {label} {name} must be the NAME of an environment variable "
                "(letters, digits, _), never a secret value")
        if name.endswith("_env") and value and _looks_like_a_key(value):
            raise ConfigError(
                f"{where}: {label} {name} looks like a secret value, not the NAME of an "
                "environment variable: put the value in the environment and its name here")
        values[name] = value
    return cls(**values)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# How keys and tokens begin: Stripe-style and Moyasar keys, Slack, GitHub, GitLab, AWS, Sentry,
# a JWT. A variable named like this is almost surely its value pasted in the wrong place.
_KEY_PREFIXES = ("sk_", "pk_", "rk_", "xox", "whsec_", "ghp_", "gho_", "ghs_", "github_pat_",
                 "AKIA", "sntrys_", "sntryu_", "eyJ")


def _is_env_name(value: str) -> bool:
    """A plausible environment variable name: an identifier of ASCII letters, digits and _,
    at most 64 characters."""
    return _ENV_NAME.fullmatch(value) is not None


def _looks_like_a_key(value: str) -> bool:
    """Whether a syntactically valid name is rather a key: a known key prefix, or random text
    (a long run mixing letters and digits, or lower and upper case with digits)."""
    if value.startswith(_KEY_PREFIXES):
        return True
    has_digit = any(c.isdigit() for c in value)
    mixed_case = any(c.islower() for c in value) and any(c.isupper() for c in value)
    if has_digit and mixed_case:
        return True
    return any(len(word) > 20 and any(c.isdigit() for c in word) for word in value.split("_"))


def _coerce(value: Any, hint: Any, label: str, where: str) -> Any:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {label} must be an array, got {_type_name(value)}")
        return [_coerce(v, item_type, f"{label}[{i}]", where) for i, v in enumerate(value)]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {label} must be a number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {label} must be a finite number, got {value}")
        if value < 0:
            raise ConfigError(f"{where}: {label} must not be negative")
        if value == 0 and label.endswith("timeout"):
            raise ConfigError(f"{where}: {label} must be a positive number of seconds, got 0")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {label} must be an integer, got {_type_name(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {label} must be true or false, got {_type_name(value)}")
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {label} must be a table, got {_type_name(value)}")
        return _build(hint, value, label, where, hint.__name__.lower())
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {label} must be a string, got {_type_name(value)}")
        return value
    raise ConfigError(f"{where}: {label}: unsupported type")  # pragma: no cover - schema bug


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _check_urls(config: Config, where: str) -> None:
    for section_name, section in config.sections().items():
        for f in dataclasses.fields(section):
            if f.name in ("base_url", "api_url"):
                url = getattr(section, f.name)
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ConfigError(f"{where}: [{section_name}] {f.name} = {url!r} is not an "
                                      "http(s) URL with a host")


MAX_MOYASAR_PAGES = 500


def _check_client_limits(config: Config, where: str) -> None:
    """The service clients' tunables: a query Sentry can read, a page bound that ends."""
    if config.sentry is not None:
        query = config.sentry.error_query
        if not query.strip() or "\n" in query or len(query) > 500:
            raise ConfigError(f"{where}: [sentry] error_query must be one non-empty line of "
                              "Sentry search (e.g. \"event.type:error\")")
    if config.slack is not None:
        _check_slack(config.slack, where)
    if config.oncall is not None:
        _check_oncall(config.oncall, where)
    if config.moyasar is not None and not 1 <= config.moyasar.max_pages <= MAX_MOYASAR_PAGES:
        raise ConfigError(f"{where}: [moyasar] max_pages = {config.moyasar.max_pages}; expected "
                          f"1 to {MAX_MOYASAR_PAGES}")


SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _check_slack(slack: SlackConfig, where: str) -> None:
    """The allow-list holds Slack user ids (U…/W…), not names: names can be changed by anyone."""
    for user in slack.responders:
        if not SLACK_USER_ID.match(user):
            raise ConfigError(f"{where}: [slack] responders: {user!r} is not a Slack user id "
                              "(U… or W…, from the profile's \"Copy member ID\")")
    if slack.plan_max_age_minutes <= 0:
        raise ConfigError(f"{where}: [slack] plan_max_age_minutes must be above 0")


def _check_oncall(oncall: OncallConfig, where: str) -> None:
    """Refused at start, naming the key: an escalation that cannot page anyone, or a timer
    that cannot be read, would otherwise fail silently at 3 a.m."""
    if not oncall.responders:
        raise ConfigError(f"{where}: [oncall] responders is empty: list who is paged, in order, "
                          "each as {{ name = \"…\", slack_id = \"U…\", email = \"…\" }}")
    for index, responder in enumerate(oncall.responders):
        label = f"[oncall] responders[{index}]"
        if not SLACK_USER_ID.match(responder.slack_id.strip()):
            raise ConfigError(f"{where}: {label} slack_id = {responder.slack_id!r} is not a "
                              "Slack member id (U… or W…, from the profile's \"Copy member ID\")")
        if not responder.name.strip():
            raise ConfigError(f"{where}: {label} name is empty")
        if responder.email.count("@") != 1 or not all(responder.email.split("@")):
            raise ConfigError(f"{where}: {label} email = {responder.email!r} is not an email "
                              "address")
    for name in _ONCALL_DURATIONS:
        value = getattr(oncall, name)
        if name == "ack_timeout" and not value:
            continue
        try:
            parse_duration(value)
        except DurationError as exc:
            raise ConfigError(f"{where}: [oncall] {name}: {exc}") from None
    try:
        ZoneInfo(oncall.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: [oncall] timezone = {oncall.timezone!r} is not a known time "
                          "zone: use an IANA name such as \"Asia/Riyadh\" or \"UTC\"") from None
    if oncall.flap_count < 1:
        raise ConfigError(f"{where}: [oncall] flap_count must be at least 1")


def timezone_of(config: Config) -> ZoneInfo:
    """The team's zone: `[oncall] timezone`, else Asia/Riyadh. Every view that shows a person a
    time asks here."""
    return config.oncall.zone() if config.oncall is not None else ZoneInfo(DEFAULT_TIMEZONE)
