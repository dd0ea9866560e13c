"""HTTP plumbing shared by every client: explicit timeouts, transport-failure classes, 429s.

Clients of outside services (Railway, UptimeRobot, Sentry, Moyasar, Slack…) go through
`request`, which turns httpx's exceptions into the library's `ServiceError`s, retries a 429
only after its `Retry-After` and within a bound, and never puts a secret into a message.

Every request made by a `client()` — `request`, `get_once`, or a plain `http.post` — is bounded
twice, below httpx, in the transport itself:
- a total deadline (`Timeouts.total`): each socket operation's timeout is cut to what is left,
  so a server that drips one byte every half second is cut off at the deadline, not kept alive
  by the per-read timeout for ever;
- a cap on the body it reads (`Timeouts.max_body`), so a huge body costs a bounded read, not
  the machine's memory.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from runbook.core.adapters.httpcore_backend import use_network_backend
from runbook.core.errors import AuthError, OutcomeUnknown, RateLimited, ServiceUnavailable
from runbook.core.redaction import redact

USER_AGENT = "dealix-runbook/0.1"
MAX_BODY_EXCERPT = 300
# No answer the runbook reads (a health body, a GraphQL page, a log tail) comes near this.
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    connect: float = 3.0
    read: float = 5.0
    max_body: int = MAX_BODY_BYTES  # bytes of a response body read before giving up

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read,
                             pool=self.connect)

    @property
    def total(self) -> float:
        """The longest one request can take: connecting, then waiting for the answer."""
        return self.connect + self.read


class BodyTooLarge(httpx.TransportError):
    """The server sent more body than `Timeouts.max_body`: the read was cut there."""


class _Budget(threading.local):
    """The deadline of the request this thread is making (None outside one)."""

    deadline: float | None = None


_BUDGET = _Budget()


@contextlib.contextmanager
def _deadline(at: float) -> Iterator[None]:
    previous = _BUDGET.deadline
    _BUDGET.deadline = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _BUDGET.deadline = previous


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` cut to what is left of the current request's deadline."""
    deadline = _BUDGET.deadline
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the request's total deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read, write and handshake ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _BoundedBody(httpx.SyncByteStream):
    """A response body read under the request's deadline, and cut at `limit` bytes."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float, limit: int) -> None:
        self._inner, self._deadline, self._limit = inner, deadline, limit

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        read = 0
        while True:
            with _deadline(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                return
            read += len(chunk)
            if read > self._limit:
                raise BodyTooLarge(f"the body is larger than {self._limit} bytes")
            yield chunk

    def close(self) -> None:
        self._inner.close()


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """httpx's default context (certifi's authorities, the host name checked), made once per
    process: loading the authorities costs tens of milliseconds, and a run makes a client per
    probe. A context is safe to share between connections and threads."""
    return httpx.create_ssl_context(trust_env=False)


class _BoundedTransport(httpx.HTTPTransport):
    """httpx's transport, with the total deadline and the body cap of `Timeouts`."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__(verify=_verifying_context(), trust_env=False)
        # httpcore's pool takes its sockets from this backend; ours cuts their timeouts to the
        # request's deadline (httpx has no total timeout of its own).
        use_network_backend(self, _DeadlineBackend())
        self._timeouts = timeouts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self._timeouts.total
        with _deadline(deadline):
            response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedBody(response.stream, deadline, self._timeouts.max_body)
        return response


def client(timeouts: Timeouts, headers: Mapping[str, str] | None = None,
           auth: httpx.Auth | tuple[str, str] | None = None) -> httpx.Client:
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    # trust_env=False: a proxy from the environment must not swallow probes of loopback fakes.
    return httpx.Client(timeout=timeouts.httpx(), headers=all_headers, auth=auth,
                        follow_redirects=False, trust_env=False,
                        transport=_BoundedTransport(timeouts))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_failure(exc: BaseException) -> str:
    """One of: timeout, too_large, dns, refused, tls, connect, protocol — what a responder
    acts on."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, BodyTooLarge):
        return "too_large"
    chain = _causes(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
            marker in text for marker in ("name or service not known", "name resolution",
                                          "nodename nor servname", "no address associated",
                                          "errno -2", "errno -3", "errno -5")):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text \
            or f"errno {errno.ECONNREFUSED}" in text:
        return "refused"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "protocol"


# Failures that can come after the whole request went out: the service may have acted on it.
_AFTER_SENDING = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                  httpx.RemoteProtocolError)


def maybe_delivered(exc: BaseException) -> bool:
    """True when the request may have reached the service (no answer was seen): a read or
    write timeout, a reset or a close after sending. Connecting failures never sent it."""
    return isinstance(exc, _AFTER_SENDING)


def describe_failure(kind: str, url: str) -> str:
    host = httpx.URL(url).host
    return {
        "timeout": f"no answer from {host} within the timeout",
        "too_large": f"{host} sent a body larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        "dns": f"the host name {host} does not resolve (DNS)",
        "refused": f"{host} refused the connection (nothing listening)",
        "tls": f"the TLS handshake with {host} failed",
        "connect": f"could not connect to {host}",
        "protocol": f"{host} broke the HTTP exchange",
    }[kind]


def required_secret(service: str, env_name: str, how_to_get: str) -> str:
    """A client's credential, read (and registered) by its env var's name; AuthError naming
    the variable and how to get the value when it is unset."""
    from runbook.core.redaction import registry

    value = registry().read_env(env_name)
    if not value:
        raise AuthError(service, f"${env_name} is not set: {how_to_get}")
    return value


def get_once(url: str, timeouts: Timeouts) -> tuple[httpx.Response | None, str, float]:
    """One GET for a probe: (response with its body read, failure kind, seconds). The failure
    kind (see `transport_failure`) is "" when an answer came back, whatever its status."""
    started = time.monotonic()
    with client(timeouts) as http:
        try:
            response = http.get(url)
            response.read()
        except httpx.HTTPError as exc:
            return None, transport_failure(exc), time.monotonic() - started
    return response, "", time.monotonic() - started


def excerpt(body: str) -> str:
    text = redact(body.strip())
    return text if len(text) <= MAX_BODY_EXCERPT else text[:MAX_BODY_EXCERPT] + "…"


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def request(http: httpx.Client, service: str, method: str, url: str, *,
            credential_env: str = "", max_rate_limit_wait: float = 10.0,
            **kwargs: Any) -> httpx.Response:
    """Send one request; raise a ServiceError a responder can act on for any failure.

    A 429 is retried after its Retry-After, as long as the total waiting stays within
    `max_rate_limit_wait`; 401/403 raise AuthError naming `credential_env`.
    """
    waited = 0.0
    while True:
        try:
            response = http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            kind = transport_failure(exc)
            unseen = OutcomeUnknown if maybe_delivered(exc) else ServiceUnavailable
            raise unseen(service, describe_failure(kind, url)) from None
        if response.status_code == 429:
            delay = retry_after_seconds(response)
            if waited + delay > max_rate_limit_wait:
                raise RateLimited(service, f"rate limited (429); Retry-After {delay:g}s is past "
                                  f"the {max_rate_limit_wait:g}s bound: try again shortly")
            time.sleep(delay)
            waited += delay
            continue
        if response.status_code in (401, 403):
            hint = f": check the value of ${credential_env}" if credential_env else ""
            raise AuthError(service, f"credentials refused ({response.status_code} "
                            f"{excerpt(response.text)}){hint}")
        if response.status_code >= 500:
            # A gateway's 502/504: the request went past it, and the service behind may have
            # acted on it before the gateway gave up.
            failure = OutcomeUnknown if response.status_code in (502, 504) else \
                ServiceUnavailable
            raise failure(service, f"server error {response.status_code}: "
                          f"{excerpt(response.text)}")
        return response


def json_body(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServiceUnavailable(service, f"answered {response.status_code} with a body that is "
                                 f"not JSON: {excerpt(response.text)}") from None
