"""Generates docs/configuration.md from the config's schema (run from the repo root:
python -m tools.make_config_docs; `--check` exits 1 when the page is stale).

The schema is the dataclasses of `runbook.core.config`: each key's type, default and whether it
is required come from them, and its meaning from the comment beside the field, else from
`MEANINGS` below, else from the comment just above the field. A field with none of these makes
this tool fail, so no key goes undocumented.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import sys
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any

from runbook.core import config as schema

PAGE = Path("docs/configuration.md")      # from the repo root, as the notebooks' generators

# What each section is for (the dataclasses say what each key is).
SECTIONS: dict[str, str] = {
    "service": "The Dealix API the probes look at.",
    "probes": "How long a probe waits. Every request also has a total deadline (connect plus "
              "read) and a 16 MiB body cap.",
    "railway": "Dealix's Railway project: deployments, logs, variables, rollbacks.",
    "database": "Dealix's Postgres, for the `db_refused` section and the SEV-1 database probe.",
    "moyasar": "Moyasar's API and the webhook secrets the `webhook_401` section compares.",
    "sentry": "Sentry's API (error counts, the monthly test error).",
    "uptimerobot": "UptimeRobot's API (is the monitor down, since when).",
    "slack": "Where verdicts and alerts go; with a Slack app, the verdict's buttons.",
    "email": "The customer email of the `comms` section (SMTP).",
    "statuspage": "The status page the `comms` section updates.",
    "git": "The Dealix checkout the `rollback` section's `git revert` plan works in.",
    "archive": "Where records, the incident logs and the postmortems go.",
    "serve": "`runbook serve`: alert webhooks in, headless runs and a Slack verdict out.",
    "oncall": "Who is paged, in order, and the on-call timers: acknowledge, escalate, "
              "flapping, verified mitigation, status-update reminders. Each responder is a "
              "table `{ name = \"…\", slack_id = \"U…\", email = \"…\" }`; durations are "
              "written `10s`, `5m`, `1h`.",
    "contacts": "The people and vendors to call, one `[[contacts]]` table each; the monthly "
                "check flags entries not verified within 31 days.",
}

# Meanings of the fields that carry no comment in lib/runbook/core/config.py.
MEANINGS: dict[tuple[str, str], str] = {
    ("service", "name"): "the service's name, as alerts and incidents name it",
    ("service", "base_url"): "the public base URL of the API",
    ("service", "healthz_path"): "the liveness check",
    ("service", "deep_health_path"): "the deep check (database, Redis, Sentry)",
    ("service", "api_probe_path"): "a public `/api/v1` route that must answer 200",
    ("service", "webhook_path"): "where Moyasar delivers its webhooks",
    ("railway", "project_id"): "the Railway project's id",
    ("railway", "environment_id"): "the Railway environment's id (production)",
    ("railway", "service_id"): "the Railway service that runs the API",
    ("railway", "api_url"): "Railway's public GraphQL API",
    ("railway", "token_env"): "env var holding the Railway token",
    ("railway", "expected_start_command"): "the start command the API's deployment must run",
    ("database", "url_env"): "env var holding `DATABASE_URL`; when it is unset, the URL is "
                             "read from the Railway service's variables",
    ("database", "connect_timeout"): "seconds to open a database connection",
    ("moyasar", "api_url"): "Moyasar's API",
    ("moyasar", "secret_key_env"): "env var holding Moyasar's secret API key",
    ("moyasar", "webhook_secret_env"): "env var holding the webhook secret Railway gives the app",
    ("moyasar", "dashboard_secret_env"): "env var holding the webhook secret set in Moyasar's "
                                         "dashboard (compared by fingerprint, never shown)",
    ("sentry", "org"): "the Sentry organization's slug",
    ("sentry", "project"): "the Sentry project's slug",
    ("sentry", "api_url"): "Sentry's API",
    ("sentry", "token_env"): "env var holding a Sentry auth token (org:read, event:read, "
                             "project:read)",
    ("sentry", "dsn_env"): "env var holding the DSN the monthly check sends its test error to",
    ("uptimerobot", "api_url"): "UptimeRobot's API",
    ("uptimerobot", "api_key_env"): "env var holding UptimeRobot's read-only API key",
    ("uptimerobot", "monitor_id"): "the monitor of the API (0: every monitor of the account)",
    ("slack", "webhook_url_env"): "env var holding the incoming webhook's URL",
    ("slack", "channel"): "the channel the verdicts and messages go to",
    ("slack", "bot_token_env"): "env var holding the Slack app's bot token (`chat:write`); "
                                "unset: the verdict has no buttons",
    ("slack", "signing_secret_env"): "env var holding the Slack app's signing secret; serve "
                                     "refuses to start with a bot token but without it",
    ("slack", "api_url"): "Slack's Web API (a drill points it at its fake Slack)",
    ("email", "smtp_host"): "the SMTP server",
    ("email", "from_address"): "the sender of the customer email",
    ("email", "smtp_port"): "the SMTP port",
    ("email", "username"): "the SMTP user (empty: no login)",
    ("email", "password_env"): "env var holding the SMTP password",
    ("statuspage", "page_id"): "the Statuspage page's id",
    ("statuspage", "api_url"): "Statuspage's API",
    ("statuspage", "api_key_env"): "env var holding the Statuspage API key",
    ("statuspage", "component_ids"): "the components an outage marks (empty: none)",
    ("git", "repo_path"): "the Dealix checkout",
    ("git", "remote"): "the remote a revert is pushed to",
    ("git", "branch"): "the branch a revert goes on",
    ("archive", "runs_dir"): "the archive's folder (relative: to the current directory); "
                             "`RUNBOOK_RUNS_DIR` overrides it; with `url`, the local staging "
                             "copy",
    ("archive", "postmortems_dir"): "where `runbook postmortem` writes (relative: to the "
                                    "config's folder)",
    ("serve", "host"): "the address serve listens on (`--host` overrides it)",
    ("serve", "port"): "the port (`--port` overrides it; 0 picks a free one)",
    ("serve", "uptimerobot_notebook"): "the section an UptimeRobot down alert runs",
    ("serve", "sentry_notebook"): "the section a Sentry alert runs",
    ("serve", "railway_crashed_notebook"): "the section a crashed Railway deployment runs",
    ("serve", "railway_failed_notebook"): "the section a failed Railway deployment runs",
    ("serve", "slack_backoff_seconds"): "the first wait between Slack tries (it doubles)",
    ("contacts", "name"): "who",
    ("contacts", "role"): "what they do for Dealix",
    ("contacts", "channel"): "how to reach them: a Slack channel, an address, a URL",
    ("contacts", "phone"): "a phone number",
}

ENVIRONMENT: list[tuple[str, str]] = [
    ("`RUNBOOK_CONFIG`", "the config to use when no `--config` is given (else `./runbook.toml`)"),
    ("`RUNBOOK_RUNS_DIR`", "the archive's folder, over `[archive] runs_dir`"),
    ("`RUNBOOK_ARCHIVE`", "the archive (`s3://bucket/prefix` or a folder), as `--archive` "
     "gives it"),
    ("`AWS_ENDPOINT_URL`", "an S3-compatible endpoint (R2, MinIO) when `[archive] "
     "endpoint_url` is empty; the credentials come from the standard AWS chain"),
    ("`RUNBOOK_LEASE_SECONDS`", "how long a lease on the shared archive lasts (60)"),
    ("`RUNBOOK_ACT_WITHOUT_ARCHIVE`", "`1`: a confirmed action goes ahead while the shared "
     "archive cannot be reached (the record says the guards were bypassed)"),
    ("the `*_env` names", "the secrets themselves, read from the environment only"),
]

INTRO = """\
# Configuration

<!-- Generated by `python -m tools.make_config_docs` from the dataclasses of
lib/runbook/core/config.py; edit those (or the tool's wording) and regenerate. -->

The target config is a TOML file: `--config PATH`, else `$RUNBOOK_CONFIG`, else
`./runbook.toml`. Start from the example:

```shell
cp runbook.example.toml runbook.toml
runbook runs --config runbook.toml
```

**Secrets never go in it.** Every key ending in `_env` holds the *name* of an environment
variable (letters, digits, `_`); the value is read from the environment and redacted from
everything the archive keeps. A value that looks like a key (`sk_live_…`, `xox…`, random text)
is refused. The file is checked whole before anything starts: a missing file, section or key,
an unknown key (usually a typo), a wrong type, a timeout of `0`, `inf` or `nan`, or a URL that
is not http(s) exits 2 with one line naming the file and the key:

```shell
printf '[service]\\nname = "dealix"\\nbase_ur = "https://api.dealix.me"\\n' > typo.toml
runbook runs --config typo.toml || echo "exit $?"
```

```output
runbook: error: typo.toml: unknown key [service] base_ur; known keys: {service_keys}
exit 2
```

Only `[service]` is required; a section left out turns off what needs it (its checks report
`skipped`). In the tables, *required* marks a key a section cannot do without.
"""


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    type: str
    default: str
    meaning: str


def sections() -> dict[str, type]:
    """Each table of the file and the dataclass that reads it, in the Config's order."""
    hints = typing.get_type_hints(schema.Config)
    found: dict[str, type] = {}
    for f in dataclasses.fields(schema.Config):
        hint = hints[f.name]
        if typing.get_origin(hint) is list:
            hint = typing.get_args(hint)[0]
        hint = _without_none(hint)
        if dataclasses.is_dataclass(hint):
            found[f.name] = typing.cast(type, hint)
    return found


def required_sections() -> set[str]:
    return {f.name for f in dataclasses.fields(schema.Config)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            and f.name in sections()}


def _without_none(hint: Any) -> Any:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def field_comments(cls: type) -> dict[str, tuple[str, str]]:
    """Each field's comment, as (beside, above): the one on its line with the comment-only
    lines that continue it, and the comment-only lines just above it."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    code_lines = {n for n, text in enumerate(lines, 1)
                  if text.strip() and not text.strip().startswith("#")}
    found: dict[str, tuple[str, str]] = {}
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.ClassDef)
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        number = item.lineno
        beside: list[str] = []
        if number in comments:
            beside.append(comments[number])
            following = number + 1
            while following in comments and following not in code_lines:
                beside.append(comments[following])
                following += 1
        above: list[str] = []
        previous = number - 1
        while previous in comments and previous not in code_lines:
            above.insert(0, comments[previous])
            previous -= 1
        found[item.target.id] = (" ".join(beside), " ".join(above))
    return found


def _type_name(hint: Any) -> str:
    hint = _without_none(hint)
    if typing.get_origin(hint) is list:
        return f"array of {_type_name(typing.get_args(hint)[0])}s"
    if dataclasses.is_dataclass(hint):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}[hint]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def keys(section: str, cls: type) -> list[Key]:
    """Every key of one table, from its dataclass; KeyError names a key with no meaning."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    result = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f"`{_toml(f.default)}`"
        elif f.default_factory is not dataclasses.MISSING:
            default = f"`{_toml(f.default_factory())}`"
        else:
            default = "required"
        beside, above = comments.get(f.name, ("", ""))
        meaning = beside or MEANINGS.get((section, f.name)) or above
        if not meaning:
            raise KeyError(f"[{section}] {f.name} has no meaning: add a comment beside the "
                           "field in lib/runbook/core/config.py")
        result.append(Key(f.name, _type_name(hints[f.name]), default, meaning))
    return result


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    service_keys = ", ".join(f.name for f in dataclasses.fields(schema.ServiceConfig))
    out = [INTRO.replace("{service_keys}", service_keys)]
    required = required_sections()
    for section, cls in sections().items():
        title = f"[[{section}]]" if section == "contacts" else f"[{section}]"
        out.append(f"## `{title}`" + (" (required)" if section in required else "") + "\n")
        out.append(SECTIONS[section] + "\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|")
        out.extend(f"| `{k.name}` | {k.type} | {_cell(k.default)} | {_cell(k.meaning)} |"
                   for k in keys(section, cls))
        out.append("")
    out.append("## Environment variables\n")
    out.append("| variable | meaning |\n|---|---|")
    out.extend(f"| {name} | {_cell(meaning)} |" for name, meaning in ENVIRONMENT)
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run python -m tools.make_config_docs", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
