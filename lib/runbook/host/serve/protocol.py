"""uvicorn's HTTP/1.1 protocol (h11) with a deadline on each request's head.

uvicorn bounds neither a connection that sends nothing nor a head sent one byte at a time:
either holds its connection (a file descriptor) for as long as the sender likes, and enough
of them leave no descriptor for the next alert. Here a connection must deliver each request's
head (request line and headers) within the deadline of its first byte, or of the
connection's opening; else it is closed. The body has its own deadline (`bodies`), and an idle
keep-alive connection uvicorn's own timeout.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_DEADLINE_SECONDS = 10.0


class HeadDeadlineProtocol(H11Protocol):
    head_deadline = HEAD_DEADLINE_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Armed while the peer owes a request's head (h11's IDLE), disarmed once it came."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_deadline, self._head_late)
        elif not waiting:
            self._stop_watching()

    def _stop_watching(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def with_head_deadline(seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol class for uvicorn (`http=`) with this deadline."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_deadline": seconds})
