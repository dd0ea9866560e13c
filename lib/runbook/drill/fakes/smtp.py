"""A real SMTP server on loopback (aiosmtpd), for the customer email: it speaks the protocol,
can require a login, and keeps every message it receives byte for byte.

    with LoopbackSMTP(username="alerts", password="…") as smtp:
        …send to 127.0.0.1:smtp.port…
        smtp.messages[0].data     # the exact bytes received after DATA
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from runbook.core.adapters.aiosmtpd_controller import EphemeralPortController

if TYPE_CHECKING:
    from runbook.drill.target import Target

PASSWORD_ENV = "DRILL_SMTP_PASSWORD"

# Plain-text AUTH is what a loopback test server wants; aiosmtpd warns about it on every
# connection. The warning is about this server only, so it is silenced here.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes                  # exactly what the client sent after DATA (dot-unstuffed)

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        with self.lock:
            self.messages.append(Received(str(envelope.mail_from),
                                          tuple(str(r) for r in envelope.rcpt_tos), bytes(data)))
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == self.username and \
                auth_data.password.decode() == self.password:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class LoopbackSMTP:
    """SMTP on 127.0.0.1 at an ephemeral port; with a username, AUTH is required."""

    def __init__(self, username: str = "", password: str = "") -> None:
        self._handler = _Handler()
        kwargs: dict[str, Any] = {}
        if username:
            kwargs.update(authenticator=_Authenticator(username, password),
                          auth_required=True, auth_require_tls=False)
        self._controller = EphemeralPortController(self._handler, hostname="127.0.0.1", port=0,
                                               decode_data=False, **kwargs)
        self._controller.start()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.messages)

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LoopbackSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def with_smtp(target: Target, recipients: tuple[str, ...] = ("customer1@example.com",
                                                             "customer2@example.com")
              ) -> LoopbackSMTP:
    """A real SMTP server for `target`, the [email] section, its password, and a recipients CSV."""
    password = target.secret(PASSWORD_ENV)
    smtp = LoopbackSMTP(username="alerts@dealix.me", password=password)
    target.stack.callback(smtp.stop)
    csv_path = target.workdir / "customers.csv"
    csv_path.write_text("name,email\n" + "".join(f"Customer {i + 1},{address}\n"
                                                 for i, address in enumerate(recipients)),
                        encoding="utf-8")
    target.sections["email"] = {"smtp_host": smtp.host, "smtp_port": smtp.port,
                                "security": "none", "username": "alerts@dealix.me",
                                "password_env": PASSWORD_ENV,
                                "from_address": "Dealix <alerts@dealix.me>",
                                "recipients_csv": str(csv_path)}
    target.extras["smtp"] = smtp
    return smtp
