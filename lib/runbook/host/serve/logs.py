"""serve's log, kept free of secrets whatever logs and at whatever level.

Every handler serve's process writes through (the root's, and uvicorn's own) gets a filter
that passes each record's message, arguments, traceback and stack through the secret registry
(`core.redaction`): the configured secrets, the alert token, and each press's `response_url`.
A filter on a handler sees records from every library, which a filter on one logger would
not. httpx and httpcore, which name every URL they call at INFO and DEBUG (the Slack webhook's
URL is a secret), are also kept at WARNING: the filter is the guarantee, the level the quiet.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from runbook.core.redaction import registry

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("httpx", "httpcore", "hpack", "urllib3", "botocore", "boto3", "s3transfer")


def _clean(value: Any) -> Any:
    """An argument as the log will show it, redacted; numbers stay numbers (uvicorn's
    access formatter needs the status code as one)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return registry().redact(str(value))


class RedactingFilter(logging.Filter):
    """Redacts a record in place; it never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = registry().redact(str(record.msg))
        if isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_clean(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = registry().redact(record.exc_text)
        if record.stack_info:
            record.stack_info = registry().redact(record.stack_info)
        return True


def configure(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """serve's log to `stream` (stderr) at `level`, with every handler redacting."""
    logging.basicConfig(level=level, stream=stream or sys.stderr, format=FORMAT, force=True)
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    redact_handlers()


def redact_handlers() -> int:
    """Put the filter on every handler of every logger (once each); call it again after a
    library (uvicorn) configures its own. Returns how many handlers carry it."""
    loggers = [logging.getLogger(), *(logger for logger in
                                      logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    handlers = {id(h): h for logger in loggers for h in logger.handlers}
    for handler in handlers.values():
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    return len(handlers)
