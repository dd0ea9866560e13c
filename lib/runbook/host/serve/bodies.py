"""Reading a request's body within bounds, for a server anyone on the internet can reach.

- At most `MAX_BODY` bytes, counted while the body streams in: a chunked body has no
  Content-Length to trust, so the cap is enforced on what arrives, and a body over it is
  refused (413) without reading the rest.
- Within a deadline for the whole body: a body dripped one byte every few seconds is cut
  (408) instead of holding its connection open for as long as the sender likes.
- A request that cannot prove who sent it before its body is read (Slack's and Sentry's
  signatures are over the body) takes a slot of a small gate while it reads; when every slot
  is taken it is refused at once (503), so slow or huge unsigned bodies cannot pile up.

A refusal answers with `Connection: close`, so the server stops reading the connection
instead of draining what the sender still pushes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

MAX_BODY = 256 * 1024
BODY_DEADLINE_SECONDS = 10.0
UNAUTHENTICATED_AT_ONCE = 32
CLOSE = {"Connection": "close"}


class BodyRefused(Exception):
    """The body was not read whole: over the cap, too slow, or the sender went away."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def answer(self) -> JSONResponse:
        return refusal(self.status, self.error)


def refusal(status: int, error: str, **headers: str) -> JSONResponse:
    """An error answer that also ends the connection: nothing more of it is read."""
    return JSONResponse({"error": error}, status_code=status, headers={**CLOSE, **headers})


DRAIN_SMALL = 64 * 1024        # a refused request's announced body this small is read first
DRAIN_SECONDS = 2.0


async def refuse_before_body(request: Request, status: int, error: str,
                             **headers: str) -> JSONResponse:
    """A refusal decided before the body was read. A small announced body is read (and
    dropped) first, within a short deadline: closing a connection with unread bytes resets
    it, and the sender would see the reset instead of the answer. Anything larger, or
    chunked, is not read at all."""
    announced = request.headers.get("content-length", "").strip()
    if announced.isascii() and announced.isdigit() and 0 < int(announced) <= DRAIN_SMALL:
        with contextlib.suppress(TimeoutError, ClientDisconnect, BodyRefused):
            await read_body(request, DRAIN_SMALL, DRAIN_SECONDS)
    return refusal(status, error, **headers)


async def read_body(request: Request, limit: int = MAX_BODY,
                    deadline: float = BODY_DEADLINE_SECONDS) -> bytes:
    """The whole body, or BodyRefused: 413 as soon as more than `limit` bytes are announced
    or have arrived, 408 when the body is not all there within `deadline` seconds."""
    announced = request.headers.get("content-length")
    if announced is not None:
        if not (announced.strip().isascii() and announced.strip().isdigit()):
            raise BodyRefused(400, "Content-Length is not a number")
        if int(announced) > limit:
            raise BodyRefused(413, f"body over {limit} bytes")
    body = bytearray()
    try:
        with anyio.fail_after(deadline):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise BodyRefused(413, f"body over {limit} bytes")
    except TimeoutError:
        raise BodyRefused(408, f"the body did not arrive within {deadline:g} s") from None
    except ClientDisconnect:
        raise BodyRefused(400, "the sender went away before the body ended") from None
    return bytes(body)


@dataclass
class Gate:
    """At most `size` unauthenticated bodies read at once. The app's handlers run on one
    event loop, so a plain counter is enough."""

    size: int = UNAUTHENTICATED_AT_ONCE
    held: int = 0
    refused: int = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """True while the caller holds a slot; False (nothing held) when all are taken."""
        if self.held >= self.size:
            self.refused += 1
            yield False
            return
        self.held += 1
        try:
            yield True
        finally:
            self.held -= 1

    def health(self) -> dict[str, int]:
        return {"reading": self.held, "size": self.size, "refused": self.refused}
