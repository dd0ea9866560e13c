"""The library's exception tree. Every error a responder can see derives from `RunbookError`.

    RunbookError
    ├── BadInput                 exit code 2: nothing was started
    │   ├── ConfigError          the config file, a section or a key is wrong
    │   ├── ParameterError       a notebook parameter is unknown, mistyped or a secret
    │   ├── UnknownIncident      no such incident in the archive
    │   ├── ArchiveError         the archive cannot be written (full disk, permissions)
    │   │   ├── ArchiveUnavailable  its storage (a bucket) cannot be reached now
    │   │   └── KeyExists        a write-once key of the archive is already written
    │   └── DbUrlError           a DATABASE_URL is malformed (names the part, never the value)
    ├── ServiceError             an outside service answered badly
    │   ├── AuthError            a token or key was refused: says which env var to fix
    │   │   └── MoyasarKeyRejected  Moyasar answered 401 to the secret key
    │   ├── RateLimited          429 that did not clear within the retry bound
    │   ├── ServiceUnavailable   5xx, timeout, refused, malformed answer
    │   └── SmtpError            the customer email's send stopped (auth, recipients, …)
    ├── ActionRefused            a guarded action was refused (lock held, already done)
    ├── RecordError              a record cannot be read or its chain is broken
    ├── LabError                 JupyterLab did not start, or stopped on its own
    └── PostgresError            the drill's Postgres could not be set up, started or stopped

Messages never hold a secret value: they are built from names, never from values, and pass
through the redactor where a value could slip in (a server echoing a token, for example).
"""

from __future__ import annotations


class RunbookError(Exception):
    """Root of every error the library raises on purpose."""


class BadInput(RunbookError):
    """The user gave something unusable; the CLI exits 2 and starts nothing."""


class ConfigError(BadInput):
    """The target config is missing, malformed, or has a wrong key or type."""


class ParameterError(BadInput):
    """A notebook parameter is unknown, does not fit its declared type, or holds a secret."""


class UnknownIncident(BadInput):
    """The incident id names no incident in the archive."""

    def __init__(self, incident_id: str, root: object) -> None:
        super().__init__(f"no incident {incident_id!r} under {root}: see `runbook runs` for "
                         "the incident ids")


class ArchiveError(BadInput):
    """The archive directory cannot be written; raised before any kernel starts."""


class ArchiveUnavailable(ArchiveError):
    """The archive's storage cannot be reached now (network, endpoint, credentials): what
    must be shared (the guards, the chain) cannot be kept; what is local still can."""


class KeyExists(ArchiveError):
    """A write-once key that is already written."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} is already in the archive and is never overwritten")
        self.key = key


class DbUrlError(BadInput):
    """The connection string is malformed; `part` names what is wrong (never its value)."""

    def __init__(self, part: str, message: str, source: str = "DATABASE_URL") -> None:
        super().__init__(f"{source} is not a valid Postgres connection string: {part}: "
                         f"{message}")
        self.part = part
        self.reason = message
        self.source = source


class ServiceError(RunbookError):
    """An outside service could not be used."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class AuthError(ServiceError):
    """Credentials were refused: the message names the env var holding them."""


class MoyasarKeyRejected(AuthError):
    """Moyasar answered 401: the key is wrong, revoked, or of the wrong kind."""


class RateLimited(ServiceError):
    """The service kept answering 429 past the retry bound."""


class ServiceUnavailable(ServiceError):
    """Timeout, refused connection, 5xx, or an answer that is not what the API documents."""


class OutcomeUnknown(ServiceUnavailable):
    """The request was sent but no answer was seen (a read timeout, a connection reset): the
    service may have done it. For a change to production this is never a failure: it is
    reconciled against the service's state before anything is tried again."""


class SmtpError(ServiceError):
    """The send stopped. `kind`: auth (login refused), recipients (every one refused),
    unreachable (no connection), smtp (anything else the server said); `sent` recipients
    were accepted before it stopped."""

    def __init__(self, kind: str, message: str, sent: int, smtp_code: int | None = None) -> None:
        super().__init__("SMTP", message)
        self.kind = kind
        self.reason = message
        self.sent = sent
        self.smtp_code = smtp_code


class ActionRefused(RunbookError):
    """A destructive action was refused by a guard (lock held elsewhere, already done)."""


class RecordError(RunbookError):
    """A record or the archive index cannot be read, or the chain does not verify."""


class LabError(RunbookError):
    """JupyterLab did not start (or stopped on its own)."""


class PostgresError(RunbookError):
    """The drill's Postgres could not be set up, started or stopped; says why, with its log."""
