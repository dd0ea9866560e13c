"""The secret registry: the only way the library reads a secret, and the redactor of every save.

Config and parameters hold only the *names* of environment variables. A value enters the
process through `read_env` (or `register`, for a value read from Railway's variables), and from
then on every string the library saves or shows passes through `redact`, which replaces the value
and its usual disguises (base64 — also inside a longer blob —, hex, percent-encoding, JSON and
HTML escaping, Basic-auth form) with `[redacted:NAME]`.

A URL-shaped secret (a webhook URL, a DSN) is registered whole and by its parts that are secret
on their own — the userinfo, the path segments, the query values — so that an echo of only the
path (`404 Cannot POST /services/T…/B…/<token>`) is caught too.

Part of a secret is caught as well: any run of `FRAGMENT_LENGTH` or more consecutive characters
of a secret (or of one of its disguises) is redacted, so a secret cut into a prefix, printed in
two pieces, or truncated by an excerpt does not get through.

What is *not* treated as a secret (the README's guarantees say the same):
- a value shorter than `MIN_SECRET_LENGTH` characters: it would blank ordinary words out;
- among values learned from a platform (Railway's variables) and the parts of a secret URL, a
  plain value: one word of letters (`error`, `production`, `postgres`), a number, true/false;
- the record's own fields (`STRUCTURAL_KEYS`: codes, statuses, timestamps, hashes), which the
  library writes itself: `redact_obj` never rewrites them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

# Shorter values would redact ordinary words; no real token, key or password is this short.
MIN_SECRET_LENGTH = 6
# A run of this many characters of a secret is redacted wherever it appears: long enough that
# no ordinary text shares it by chance, short enough that a secret split in two halves, or cut
# to a 24-character prefix, still has its pieces caught.
FRAGMENT_LENGTH = 12
# A plain word is at most this long: a longer run of letters may be a random key.
MAX_PLAIN_WORD = 20

# Fields the library writes itself in records, events and ledgers, each with the shape its
# value has: codes, statuses, timestamps, hashes, ids already validated. A secret that happens
# to equal one of their values ("error") must not rewrite the structure other tools read. A
# value of another shape under such a key (a display's {"status": "<token>"}) is redacted.
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
_WORD = r"[a-z][a-z_]{0,23}"
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_SHA256 = r"[0-9a-f]{64}"
_STRUCTURAL_SHAPES = {
    "code": r"[a-z0-9_]+(?:\.[a-z0-9_]+)+", "status": _WORD, "type": _WORD, "mode": _WORD,
    "severity": r"SEV-[1-4]|none", "at": _TIME, "started_at": _TIME, "finished_at": _TIME,
    "opened_at": _TIME, "incident_id": _ID, "notebook": _ID, "runbook_version": _ID,
    "sha256": _SHA256, "notebook_sha256": _SHA256, "previous_record_sha256": _SHA256,
    "record_sha256": _SHA256, "chain_sha256": _SHA256,
}
STRUCTURAL_KEYS = frozenset({*_STRUCTURAL_SHAPES, "dry_run"})
_STRUCTURAL_VALUE = {key: re.compile(shape) for key, shape in _STRUCTURAL_SHAPES.items()}

_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_PLAIN_VALUE = re.compile(r"[a-z]+|[A-Z]+|[A-Z][a-z]+|\d+|true|false|True|False|TRUE|FALSE")

T = TypeVar("T")


def fingerprint(value: str) -> str:
    """The first 8 hex digits of the value's SHA-256: enough to compare two secrets by eye."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def is_plain(value: str) -> bool:
    """A value too common to be a secret: one word of letters, a number, a boolean."""
    text = value.strip()
    return len(text) <= MAX_PLAIN_WORD and _PLAIN_VALUE.fullmatch(text) is not None


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


def _url_parts(value: str) -> set[str]:
    """The parts of a URL-shaped secret that are secret on their own: the user name, the path
    segments and the query values (the password is taken by `_url_password`). Plain words and
    numbers (`services`, `v1`, `5432`) name things; they are left out."""
    text = value.strip()
    if "://" not in text:
        return set()
    try:
        parts = urlsplit(text)
        username = parts.username
    except ValueError:
        return set()
    candidates = {username or ""}
    candidates.update(parts.path.split("/"))
    candidates.update(v for _, v in parse_qsl(parts.query, keep_blank_values=True))
    found: set[str] = set()
    for candidate in candidates:
        for form in {candidate, unquote(candidate)}:
            if len(form) >= MIN_SECRET_LENGTH and not is_plain(form):
                found.add(form)
    return found


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that encode `raw` wherever it sits inside a longer blob: for each
    of the three byte alignments, the characters that depend on `raw`'s bytes only."""
    cores: set[str] = set()
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        core = encoded[skip:4 * ((len(raw) + offset) // 3)]
        cores.add(core)
        cores.add(core.translate(str.maketrans("+/", "-_")))
    return cores


def _disguises(value: str) -> set[str]:
    """The forms in which a value can be written without being the value itself."""
    forms = {value, value.strip(), value.strip().strip("\"'")}
    raw = value.encode("utf-8")
    for prefix, suffix in ((b"", b""), (b"", b":"), (b":", b"")):
        forms.add(base64.b64encode(prefix + raw + suffix).decode("ascii").rstrip("="))
    forms.add(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))
    forms |= _base64_cores(raw)
    forms.add(raw.hex())
    forms.add(raw.hex().upper())
    forms.add(quote(value, safe=""))
    forms.add(quote(value))
    json_form = json.dumps(value)[1:-1]
    forms.add(json_form)
    forms.add(json_form.replace("/", "\\/"))  # JSON may write '/' as '\/'
    forms.add(repr(value)[1:-1])
    forms.add(html.escape(value))
    forms.add(html.escape(value).replace("&#x27;", "&#39;"))
    forms.add(html.escape(value, quote=False))
    # Each form as a JSON string holds it (a quote or backslash escaped, and with
    # ensure_ascii every other character too): what a saved notebook or record holds of
    # it, so `may_hold_secret` can pass over JSON text without decoding it.
    forms |= {json.dumps(form, ensure_ascii=ascii_only)[1:-1]
              for form in list(forms) for ascii_only in (True, False)}
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
    A plain value (one word of letters, a number, a boolean: `LOGLEVEL=error`) does not: it
    would rewrite ordinary words — a finding's status — wherever they appear.
    """
    if name.upper() in _PLAIN_VARIABLES or _PLAIN_PATTERN.match(name.upper()):
        return False
    return not is_plain(value)


def _is_url_shaped(value: str) -> bool:
    return "://" in value or _KEYWORD_PASSWORD.search(value) is not None


# Long forms are found by sampling: every Q-th position of the text is looked up in a table of
# the Q-character pieces of every form. A match at least 2Q-1 long always covers one sampled
# position, so nothing is missed, and the scan costs one dictionary lookup per Q characters,
# however many secrets there are. Shorter forms go through one regex.
_Q = 6
# The sampled positions' pieces, cut in C: a text with no piece of any form in its sample (most
# texts) is passed over without a Python step per position.
_SAMPLE = re.compile(f".{{{_Q}}}", re.DOTALL)


@dataclass(frozen=True)
class _Form:
    text: str
    name: str
    min_run: int    # how much of it must appear: all of it, or FRAGMENT_LENGTH characters


class SecretRegistry:
    """Holds every secret value this process has read, and redacts them from text and data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: dict[str, _Form] = {}
        self._pieces: dict[str, list[tuple[_Form, int]]] = {}   # Q characters -> (form, offset)
        self._short: re.Pattern[str] | None = None
        self._short_names: dict[str, str] = {}
        self._stale = False
        self._sources_read: set[str] = set()

    def first_read_of(self, source: str) -> bool:
        """True once per `source` (say, one Railway service's variables): the caller reads it
        and registers what it holds. A source whose read failed can be marked again by
        `forget_source`; `clear` forgets them all with the secrets."""
        with self._lock:
            if source in self._sources_read:
                return False
            self._sources_read.add(source)
            return True

    def register(self, name: str, value: str | None) -> None:
        """Remember `value` (read from env var `name`, or learned from a service) as secret."""
        if not value or len(value.strip()) < MIN_SECRET_LENGTH:
            return
        whole = _disguises(value)
        atomic: set[str] = set()
        password = _url_password(value)
        if password:
            atomic |= {p for p in (password, unquote(password)) if len(p) >= MIN_SECRET_LENGTH}
        atomic |= _url_parts(value)
        if not _is_url_shaped(value):
            atomic.add(value)
        atomic_forms: set[str] = set()
        for part in atomic:
            atomic_forms |= _disguises(part)
        with self._lock:
            for text in atomic_forms:
                self._add(_Form(text, name, min(len(text), FRAGMENT_LENGTH)))
            for text in whole - atomic_forms:
                self._add(_Form(text, name, len(text)))
            self._stale = True

    def _add(self, form: _Form) -> None:
        known = self._forms.get(form.text)
        if known is not None and known.min_run <= form.min_run:
            return
        self._forms[form.text] = form
        if form.min_run >= 2 * _Q - 1:
            for offset in range(len(form.text) - _Q + 1):
                self._pieces.setdefault(form.text[offset:offset + _Q], []).append(
                    (form, offset))
        else:
            self._short_names.setdefault(form.text, form.name)

    def _short_pattern(self) -> re.Pattern[str] | None:
        if self._stale:
            with self._lock:
                # Longest first, so that the longest form at a place wins.
                ordered = sorted(self._short_names, key=len, reverse=True)
                self._short = re.compile("|".join(re.escape(f) for f in ordered)) \
                    if ordered else None
                self._stale = False
        return self._short

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where secrets (or long enough runs of them) sit in `text`: merged (start, end, name)
        spans, in order."""
        found: list[tuple[int, int, str]] = []
        pieces = self._pieces
        if self._long_form_may_be_in(text):
            size = len(text)
            for at in range(0, size - _Q + 1, _Q):
                hits = pieces.get(text[at:at + _Q])
                if not hits:
                    continue
                for form, offset in hits:
                    chars = form.text
                    left, index = at, offset
                    while left > 0 and index > 0 and text[left - 1] == chars[index - 1]:
                        left, index = left - 1, index - 1
                    right, index = at + _Q, offset + _Q
                    while right < size and index < len(chars) and text[right] == chars[index]:
                        right, index = right + 1, index + 1
                    if right - left >= form.min_run:
                        found.append((left, right, form.name))
        short = self._short_pattern()
        if short is not None:
            found += [(m.start(), m.end(), self._short_names[m.group(0)])
                      for m in short.finditer(text)]
        if len(found) < 2:
            return found
        found.sort(key=lambda span: (span[0], -span[1]))
        merged = [found[0]]
        for start, end, name in found[1:]:
            last_start, last_end, last_name = merged[-1]
            if start < last_end:  # overlapping: one span, named after the longer
                longer = name if end - start > last_end - last_start else last_name
                merged[-1] = (last_start, max(end, last_end), longer)
            else:
                merged.append((start, end, name))
        return merged

    def read_env(self, name: str) -> str | None:
        """Read a secret from the environment by name and register it; None when unset/empty."""
        value = os.environ.get(name)
        if value is None or value == "":
            return None
        self.register(name, value)
        return value

    def names(self) -> list[str]:
        with self._lock:
            return sorted({form.name for form in self._forms.values()})

    def contains_secret(self, text: str) -> str | None:
        """The name of a registered secret found in `text` (whole, or a long enough run of
        it), or None."""
        spans = self._spans(text) if text and self._forms else []
        return spans[0][2] if spans else None

    def may_hold_secret(self, text: str) -> bool:
        """False when `text` surely holds no registered secret, no long enough run of one and
        none of them JSON-escaped; True when it may (then `redact` finds where). One pass in C:
        the quick answer for a whole saved notebook, before walking its strings one by one."""
        if not text or not self._forms:
            return False
        if self._long_form_may_be_in(text):
            return True
        short = self._short_pattern()
        return short is not None and short.search(text) is not None

    def _long_form_may_be_in(self, text: str) -> bool:
        """Whether a long form may be in `text`: a piece of one sits at a sampled position, and
        when that form must appear whole (a URL, whose pieces are common words such as
        `dealix`), the whole form is there too."""
        pieces = self._pieces
        if not pieces:
            return False
        for piece in pieces.keys() & _SAMPLE.findall(text):
            for form, _ in pieces.get(piece, ()):
                if form.min_run < len(form.text) or form.text in text:
                    return True
        return False

    def redact(self, text: str) -> str:
        if not text or not self._forms:
            return text
        spans = self._spans(text)
        if not spans:
            return text
        pieces: list[str] = []
        done = 0
        for start, end, name in spans:
            pieces += [text[done:start], f"[redacted:{name}]"]
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    def redact_obj(self, data: T) -> T:
        """A copy of JSON-like data (dicts, lists, strings) with every string redacted, except
        the record's own fields (`STRUCTURAL_KEYS`), which the library writes itself."""
        return _redact_any(self, data)  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._lock:
            self._forms.clear()
            self._pieces.clear()
            self._short_names.clear()
            self._short = None
            self._stale = False
            self._sources_read.clear()


def _structural(key: Any, value: Any) -> bool:
    """Whether `value` is one of the record's own fields, in the shape the library writes."""
    if not isinstance(key, str) or key not in STRUCTURAL_KEYS:
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return True
    shape = _STRUCTURAL_VALUE.get(key)
    return isinstance(value, str) and shape is not None and shape.fullmatch(value) is not None


def _redact_any(registry: SecretRegistry, data: Any) -> Any:
    if isinstance(data, str):
        return registry.redact(data)
    if isinstance(data, dict):
        return {registry.redact(k) if isinstance(k, str) else k:
                v if _structural(k, v) else _redact_any(registry, v)
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_redact_any(registry, v) for v in data)
    return data


_REGISTRY = SecretRegistry()


def registry() -> SecretRegistry:
    """The process-wide registry: the kernel's output hooks and the runner's saves share it."""
    return _REGISTRY


def redact(text: str) -> str:
    return _REGISTRY.redact(text)
