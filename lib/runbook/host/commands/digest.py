"""runbook digest [--post]: every open incident for the responder taking over, from the fold of
each log: SEV, clock, who acknowledged, what was done, what is next."""

from __future__ import annotations

import argparse
from zoneinfo import ZoneInfo

from runbook.core import clock
from runbook.core.config import DEFAULT_TIMEZONE, ServeConfig, load_config, resolve_path
from runbook.core.durations import DurationError, parse_duration
from runbook.core.errors import BadInput
from runbook.core.redaction import registry
from runbook.host.commands import Subcommands
from runbook.host.commands.runs import command_archives


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("digest", help="every open incident for a handoff: SEV, clock, "
                            "who acknowledged, what was done, what is next (--post: to Slack)")
    parser.add_argument("--post", action="store_true", help="post it to the configured "
                        "Slack channel (the Slack app's bot, else the incoming webhook)")
    parser.add_argument("--since", default="7d", help="leave out incidents with no alert or "
                        "detection within this long (default 7d; e.g. 12h, 30d)")
    parser.add_argument("--drills", action="store_true", help="list drill incidents too")
    parser.add_argument("--config", help="target config (default: $RUNBOOK_CONFIG or "
                        "./runbook.toml when present)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from runbook.host.serve.incidents import IncidentBook
    from runbook.host.serve.oncall import open_digest
    from runbook.host.serve.slack import post_to_slack, post_with_app, slack_app

    try:
        since = parse_duration(args.since)
    except DurationError as exc:
        raise BadInput(f"--since: {exc}") from None
    has_config = bool(args.config) or resolve_path(None).is_file()
    config = load_config(args.config) if has_config else None
    if args.post and config is None:
        raise BadInput("--post needs a config with a [slack] section (--config or "
                       "$RUNBOOK_CONFIG): it says where to post")
    zone = config.oncall.zone() if config and config.oncall else ZoneInfo(DEFAULT_TIMEZONE)
    # Drills keep to their own archive: read it too when asked.
    archive, *drills = command_archives(args.config, args.drills)
    archive.check_reachable()
    text = open_digest(IncidentBook(archive), clock.now(), zone, drills=args.drills,
                       since=since, also=tuple(IncidentBook(each) for each in drills))
    print(text)
    if not args.post:
        return 0
    assert config is not None
    if config.slack is None:
        raise BadInput("--post: the config has no [slack] section: nothing was posted")
    for name in config.secret_env_names():
        registry().read_env(name)
    settings = config.serve or ServeConfig()
    message = f"*Handoff*\n```{text}```"
    app = slack_app(config)
    posted = post_with_app(config, app, message, [
        {"type": "section", "text": {"type": "mrkdwn", "text": message[:2900]}}],
        settings.slack_attempts, settings.slack_backoff_seconds) if app is not None else \
        post_to_slack(config, message, settings.slack_attempts, settings.slack_backoff_seconds)
    if not posted.ok:
        print(f"runbook digest: not posted: {posted.error}")
        return 1
    print(f"posted to {config.slack.channel}")
    return 0
