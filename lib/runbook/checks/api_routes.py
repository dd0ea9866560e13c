"""Is the API the app that answers? A public `/api/v1` route must answer 200 and a protected
one 401 without a key; a 404 on either means another app (or none) serves the domain.

Where `API_KEYS` is unset (dev, staging) Dealix's key middleware is off and the router answers
the protected probe instead: `GET /api/v1/leads` is 405 (the route exists, POST only). So a 405
proves the API answers, as a 401 does."""

from __future__ import annotations

from typing import Any

from runbook.clients.transport import Timeouts, describe_failure, excerpt, get_once
from runbook.core.config import Config
from runbook.core.findings import Finding, failed, passed

FIX_NOT_FOUND = ("/api/v1 answers 404: the app that answers is not the API. Railway → "
                 "Deployments → latest deploy status; if it failed: check logs, fix, redeploy; "
                 "if it succeeded: Settings → Start Command = /app/start.sh")
FIX_DOWN = "The app does not answer: follow the SEV-1 response (sev1_response notebook)"
FIX_UNPROTECTED = ("A protected /api/v1 route answered without X-API-Key: check the API key "
                   "middleware and API_KEYS before anything else")


def _probe(route: str, path: str, expected: int, config: Config, timeouts: Timeouts) -> Finding:
    url = config.url(path)
    response, kind, seconds = get_once(url, timeouts)
    evidence: dict[str, Any] = {"route": route, "url": url, "expected_status": expected,
                                "seconds": round(seconds, 3)}
    if response is None:
        code = "health.timeout" if kind == "timeout" else "health.down"
        return failed(code, f"{route} route: {describe_failure(kind, url)}", FIX_DOWN,
                      failure=kind, **evidence)
    evidence.update(http_status=response.status_code, body=excerpt(response.text))
    status = response.status_code
    if status == expected:
        what = "answers 200" if expected == 200 else "asks for X-API-Key (401)"
        return passed("api.ok", f"{route} route {path} {what}: the API is serving", **evidence)
    if route == "protected" and status == 405:
        return passed("api.ok", f"protected route {path} answers 405 (the route exists, not for "
                      "GET; no key middleware: API_KEYS is unset there): the API is serving",
                      **evidence)
    if status == 404:
        return failed("api.not_found", f"{route} route {path} answers 404 (expected {expected})",
                      FIX_NOT_FOUND, **evidence)
    if status >= 500:
        return failed("health.down", f"{route} route {path} answers {status}", FIX_DOWN,
                      **evidence)
    if route == "protected" and status == 200:
        return failed("api.unprotected", f"protected route {path} answered 200 without a key",
                      FIX_UNPROTECTED, **evidence)
    return failed("api.not_found", f"{route} route {path} answers {status}, expected {expected}",
                  FIX_NOT_FOUND, **evidence)


def probe_public(config: Config, timeouts: Timeouts) -> Finding:
    return _probe("public", config.service.api_probe_path, 200, config, timeouts)


def probe_protected(config: Config, timeouts: Timeouts) -> Finding:
    return _probe("protected", config.service.protected_probe_path, 401, config, timeouts)
