"""aiosmtpd 1.4: a threaded controller on an ephemeral port.

`Controller` checks that its server is up by connecting to `port`; with port 0 that check
fails. Its private `_trigger_server` is the one moment the server is bound and the check not
yet made, so the port the kernel gave is learned there. aiosmtpd has no public hook for it.
"""

from __future__ import annotations

from typing import Any

from aiosmtpd.controller import Controller

CHECKED = {"aiosmtpd": "1.4.6"}


class EphemeralPortController(Controller):
    """aiosmtpd's controller, started with `port=0`: `port` is the one the kernel gave."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
