"""httpx 0.28 / httpcore 1.0: give an `httpx.HTTPTransport`'s connection pool a network backend.

httpcore's `ConnectionPool(network_backend=…)` is public, but `httpx.HTTPTransport` builds its
pool itself and takes no backend; the pool (`_pool`) and its backend (`_network_backend`) are
private. The library's backend cuts every socket timeout to the request's total deadline,
which httpx has no public way to set.
"""

from __future__ import annotations

import httpcore
import httpx

CHECKED = {"httpx": "0.28.1", "httpcore": "1.0.9"}


def use_network_backend(transport: httpx.HTTPTransport, backend: httpcore.NetworkBackend) -> None:
    """Every connection `transport` opens from now on comes from `backend`."""
    transport._pool._network_backend = backend
