"""SMTP: send one message to many recipients, in batches, through the configured server.

STARTTLS (587), SMTPS (465) or plain (loopback tests only), with a login when a username is
set. Recipients go in the envelope only, `BATCH` per transaction. Every failure is an
`SmtpError` that says how many recipients were sent to before it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from runbook.core.config import EmailConfig
from runbook.core.errors import SmtpError
from runbook.core.redaction import registry

SERVICE = "SMTP"
BATCH = 50             # envelope recipients per SMTP transaction

Step = Callable[..., Any]   # a step log: step(text, **details)


@dataclass(frozen=True)
class Delivery:
    sent: int
    refused: tuple[str, ...]


def where(settings: EmailConfig) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


def _connect(settings: EmailConfig, timeout: float) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                context=ssl.create_default_context())
    connection = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.security == "starttls":
        connection.starttls(context=ssl.create_default_context())
    return connection


def send(settings: EmailConfig, password: str | None, message: EmailMessage,
         addresses: list[str], timeout: float, step: Step) -> Delivery:
    """Send `message` to `addresses`; `step` is told each thing done (for the action's log)."""
    sender = parseaddr(settings.from_address)[1]
    server = where(settings)
    sent = 0
    refused_all: list[str] = []
    try:
        with _connect(settings, timeout) as connection:
            step(f"connected to {server} ({settings.security})")
            if settings.username:
                connection.login(settings.username, password or "")
                step(f"logged in as {settings.username}")
            for start in range(0, len(addresses), BATCH):
                batch = addresses[start:start + BATCH]
                refused = connection.send_message(message, from_addr=sender, to_addrs=batch)
                sent += len(batch) - len(refused)
                refused_all += sorted(refused)
                step(f"sent to {len(batch) - len(refused)} of {len(batch)} recipient(s)",
                     refused=sorted(refused))
    except smtplib.SMTPAuthenticationError as exc:
        step(f"login refused ({exc.smtp_code})")
        raise SmtpError("auth", f"the SMTP server {server} refused the login for "
                        f"{settings.username} ({exc.smtp_code})", sent, exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused as exc:
        step("every recipient was refused")
        raise SmtpError("recipients", f"{server} refused every recipient "
                        f"({', '.join(list(exc.recipients)[:3])}…)", sent) from None
    except smtplib.SMTPException as exc:
        step(f"SMTP error: {type(exc).__name__}")
        raise SmtpError("smtp", f"{server}: {registry().redact(str(exc))}", sent) from None
    except OSError as exc:
        kind = "timeout" if isinstance(exc, TimeoutError) else \
            "refused" if isinstance(exc, ConnectionRefusedError) else "connect"
        step(f"cannot reach {server}: {kind}")
        raise SmtpError("unreachable", f"cannot reach the SMTP server {server} "
                        f"({kind}: {exc.strerror or exc})", sent) from None
    return Delivery(sent, tuple(refused_all))
