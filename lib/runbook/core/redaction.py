"""The secret registry: the only way the library reads a secret, and the redactor of every save.

Config and parameters hold only the *names* of environment variables. A value enters the
process through `read_env` (or `register`, for a value read from Railway's variables), and from
then on every string the library saves or shows passes through `redact`, which replaces the value
and its usual disguises (base64, percent-encoding, JSON escaping, Basic-auth form, a URL's
password part) with `[redacted:NAME]`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

# Shorter values would redact ordinary words; no real token, key or password is this short.
MIN_SECRET_LENGTH = 4

_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")

T = TypeVar("T")


def fingerprint(value: str) -> str:
    """The first 8 hex digits of the value's SHA-256: enough to compare two secrets by eye."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def _url_password(value: str) -> str | None:
    """The password inside a URL such as postgresql://user:pw@host/db, or a libpq `password=`."""
    if "://" in value:
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password is None:
            # urlsplit gives up on some malformed URLs; take what stands between ':' and '@'.
            match = re.search(r"://[^/:@\s]*:([^@\s]*)@", value)
            password = match.group(1) if match else None
        return password
    match = _KEYWORD_PASSWORD.search(value)
    if match:
        return match.group(1).strip("'")
    return None


def _disguises(value: str) -> set[str]:
    """The forms in which a value can be written without being the value itself."""
    forms = {value, value.strip(), value.strip().strip("\"'")}
    raw = value.encode("utf-8")
    for prefix, suffix in ((b"", b""), (b"", b":"), (b":", b"")):
        forms.add(base64.b64encode(prefix + raw + suffix).decode("ascii").rstrip("="))
    forms.add(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))
    forms.add(quote(value, safe=""))
    forms.add(quote(value))
    forms.add(json.dumps(value)[1:-1])
    forms.add(repr(value)[1:-1])
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


# Variables a platform sets that name things rather than guard them. Registering their values
# ("postgres", "railway", "production") would blank ordinary words out of every saved output.
_PLAIN_VARIABLES = frozenset({
    "PORT", "PGPORT", "PGUSER", "PGDATABASE", "PGHOST", "POSTGRES_USER", "POSTGRES_DB",
    "APP_ENV", "ENV", "ENVIRONMENT", "NODE_ENV", "PYTHON_VERSION", "LOG_LEVEL", "TZ",
    "WEB_CONCURRENCY", "PYTHONUNBUFFERED",
})
_PLAIN_PATTERN = re.compile(r"^RAILWAY_[A-Z_]*(?:_ID|_NAME|_DOMAIN|ENVIRONMENT)$")


def looks_secret(name: str, value: str) -> bool:
    """Whether a variable read from a platform (Railway's variables) must be treated as secret.

    Unknown names count as secret: a redacted word costs readability, a leaked key costs more.
    """
    if name.upper() in _PLAIN_VARIABLES or _PLAIN_PATTERN.match(name.upper()):
        return False
    return not (value.strip().isdigit() or value.strip().lower() in ("true", "false"))


class SecretRegistry:
    """Holds every secret value this process has read, and redacts them from text and data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # disguised form -> env var name, for the marker
        self._pattern: re.Pattern[str] | None = None

    def register(self, name: str, value: str | None) -> None:
        """Remember `value` (read from env var `name`, or learned from a service) as secret."""
        if not value or len(value.strip()) < MIN_SECRET_LENGTH:
            return
        forms = _disguises(value)
        password = _url_password(value)
        if password:
            for candidate in {password, unquote(password)}:
                if len(candidate) >= MIN_SECRET_LENGTH:
                    forms |= _disguises(candidate)
        with self._lock:
            for form in forms:
                self._names.setdefault(form, name)
            # Longest first, so that a URL is replaced whole before its password part.
            ordered = sorted(self._names, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered))

    def read_env(self, name: str) -> str | None:
        """Read a secret from the environment by name and register it; None when unset/empty."""
        value = os.environ.get(name)
        if value is None or value == "":
            return None
        self.register(name, value)
        return value

    def names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._names.values()))

    def contains_secret(self, text: str) -> str | None:
        """The name of a registered secret found in `text`, or None."""
        pattern = self._pattern
        if pattern is None:
            return None
        match = pattern.search(text)
        return self._names[match.group(0)] if match else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: f"[redacted:{self._names[m.group(0)]}]", text)

    def redact_obj(self, data: T) -> T:
        """A copy of JSON-like data (dicts, lists, strings) with every string redacted."""
        return _redact_any(self, data)  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._lock:
            self._names.clear()
            self._pattern = None


def _redact_any(registry: SecretRegistry, data: Any) -> Any:
    if isinstance(data, str):
        return registry.redact(data)
    if isinstance(data, dict):
        return {registry.redact(str(k)) if isinstance(k, str) else k: _redact_any(registry, v)
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_redact_any(registry, v) for v in data)
    return data


_REGISTRY = SecretRegistry()


def registry() -> SecretRegistry:
    """The process-wide registry: the kernel's output hooks and the runner's saves share it."""
    return _REGISTRY


def register_all(pairs: Iterable[tuple[str, str | None]]) -> None:
    for name, value in pairs:
        _REGISTRY.register(name, value)


def redact(text: str) -> str:
    return _REGISTRY.redact(text)
