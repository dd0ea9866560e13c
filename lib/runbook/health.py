"""The runbook's first step, "Open /healthz: 5xx or timeout → SEV-1", as two concurrent probes.

`/healthz` says whether the app answers at all (it never touches the database); the deep check
(`/healthz?deep=1`) says which dependency is failing, and answers 200 even when degraded.
"""

from __future__ import annotations

from typing import Any

from runbook.clients.http import Timeouts, describe_failure, excerpt, get_once
from runbook.core.concurrency import run_concurrently
from runbook.core.config import Config
from runbook.core.findings import Finding, failed, passed

RAILWAY_502_HINT = "Application failed to respond"

FIX_DOWN = ("SEV-1: check Railway → service status and the latest deploy (sev1_response), "
            "then roll back or restart (rollback notebook)")
FIX_DEGRADED = ("A dependency of the app is failing: follow the section for it "
                "(db_refused for postgres)")


def _unreachable(probe: str, url: str, kind: str, seconds: float) -> Finding:
    code = "health.timeout" if kind == "timeout" else "health.down"
    return failed(code, f"{probe}: {describe_failure(kind, url)}", FIX_DOWN,
                  probe=probe, url=url, failure=kind, seconds=round(seconds, 3))


def probe_healthz(config: Config, timeouts: Timeouts) -> Finding:
    url = config.url(config.service.healthz_path)
    response, kind, seconds = get_once(url, timeouts)
    if response is None:
        return _unreachable("healthz", url, kind, seconds)
    evidence: dict[str, Any] = {"probe": "healthz", "url": url, "http_status":
                                response.status_code, "seconds": round(seconds, 3)}
    body = excerpt(response.text)
    if response.status_code >= 500:
        why = " (Railway's edge: the app is not running)" if RAILWAY_502_HINT in body else ""
        return failed("health.down", f"healthz answered {response.status_code}{why}", FIX_DOWN,
                      body=body, **evidence)
    if response.status_code != 200:
        return failed("health.down", f"healthz answered {response.status_code}: the app that "
                      "answers is not the Dealix API", FIX_DOWN, body=body, **evidence)
    return passed("health.ok", f"healthz answered 200 in {seconds * 1000:.0f} ms", **evidence)


def probe_deep(config: Config, timeouts: Timeouts) -> Finding:
    url = config.url(config.service.deep_health_path)
    response, kind, seconds = get_once(url, timeouts)
    if response is None:
        return _unreachable("deep", url, kind, seconds)
    evidence: dict[str, Any] = {"probe": "deep", "url": url, "http_status": response.status_code,
                                "seconds": round(seconds, 3)}
    if response.status_code >= 500:
        return failed("health.down", f"deep check answered {response.status_code}", FIX_DOWN,
                      body=excerpt(response.text), **evidence)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        return failed("health.degraded", f"deep check answered {response.status_code} without "
                      "the expected JSON", FIX_DEGRADED, body=excerpt(response.text), **evidence)
    checks = data.get("checks") if isinstance(data.get("checks"), dict) else {}
    bad = sorted(name for name, state in (checks or {}).items() if not _check_ok(state))
    evidence["checks"] = checks
    if data.get("status") == "ok" and not bad:
        return passed("health.ok", "deep check: every dependency is ok", **evidence)
    failing = ", ".join(bad) or "unspecified"
    return failed("health.degraded", f"deep check is {data.get('status')!s}: failing {failing}",
                  FIX_DEGRADED, failing=bad, **evidence)


def _check_ok(state: Any) -> bool:
    if isinstance(state, dict):
        state = state.get("status", state.get("ok"))
    return state in ("ok", True, "skipped", "disabled")


def probe_health(config: Config, timeouts: Timeouts | None = None) -> list[Finding]:
    """Both probes at once; the whole call takes about one timeout at worst, not two."""
    timeouts = timeouts or Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
    return run_concurrently(
        {"health.healthz": lambda: probe_healthz(config, timeouts),
         "health.deep": lambda: probe_deep(config, timeouts)},
        bound=timeouts.total + 1.0)
