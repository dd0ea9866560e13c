"""Who may start a run: the URL token (UptimeRobot and Railway cannot sign) and Sentry's
HMAC signature, each compared in constant time; and the access log kept free of the token."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

_TOKEN_QUERY = re.compile(r"([?&]token=)[^&#\s]*")
_TOKEN_SEGMENT = re.compile(r"(/alerts/(?:uptimerobot|railway)/)[^/?#\s]+")
REDACTED = "[redacted]"


def token_ok(given: str | None, expected: str | None) -> bool:
    """True only when a token is configured and `given` is exactly it."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def sentry_signature_ok(body: bytes, signature: str | None, secret: str | None) -> bool:
    """`Sentry-Hook-Signature` is the hex HMAC-SHA256 of the raw body, keyed with the
    integration's client secret."""
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def redact_path(text: str, token: str | None = None) -> str:
    """A request line with the token gone: the query parameter, the path segment, and the
    token's value wherever else it appears."""
    text = _TOKEN_SEGMENT.sub(r"\1" + REDACTED, _TOKEN_QUERY.sub(r"\1" + REDACTED, text))
    return text.replace(token, REDACTED) if token else text


class AccessLogRedactor(logging.Filter):
    """On `uvicorn.access`: uvicorn logs the full path, query string included."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a, self.token) if isinstance(a, str) else a
                                for a in record.args)
        record.msg = redact_path(str(record.msg), self.token)
        return True


def redact_access_log(token: str | None) -> AccessLogRedactor:
    """Install the redactor (once) on uvicorn's access logger."""
    logger = logging.getLogger("uvicorn.access")
    for existing in list(logger.filters):
        if isinstance(existing, AccessLogRedactor):
            logger.removeFilter(existing)
    redactor = AccessLogRedactor(token)
    logger.addFilter(redactor)
    return redactor
