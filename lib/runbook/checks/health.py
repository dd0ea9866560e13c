"""The runbook's first step, "Open /healthz: 5xx or timeout → SEV-1", then the deep check.

`/healthz` says whether the app answers at all (it never touches the database); the deep check
(`/healthz?deep=1`) says which dependency is failing, and answers 200 even when degraded.

Order matters. Dealix runs one worker, and its deep check connects to Postgres synchronously:
while the deep check waits on a hung database (up to 3 s), `/healthz` waits too. So `/healthz`
is asked first and gets its verdict before the deep check goes out; the deep check is only sent
to an app whose `/healthz` answered 200. A `/healthz` 404 is what a wrong start command looks
like (another app answers): the public `/api/v1` route then tells whether the API is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbook.checks import api_routes
from runbook.clients.transport import Timeouts, describe_failure, excerpt, get_once
from runbook.core.config import Config
from runbook.core.findings import Finding, Status, failed, guarded, passed, skipped

__all__ = ["probe_deep", "probe_health", "probe_healthz", "probe_in_order"]

RAILWAY_502_HINT = "Application failed to respond"

# The deep check's postgres and redis checks each wait up to 3 s on a hung dependency: give the
# deep probe enough time to hear the verdict instead of timing out before the app does.
DEEP_READ_TIMEOUT = 7.0

# A deep-check dependency's `status`, as the real app writes it. `skip` is "not configured",
# `misconfigured` is a warning (sentry's DSN host), `degraded` is the dlq over its threshold.
CHECK_OK = "ok"
CHECK_SKIP = "skip"
CHECK_FAIL = "fail"
CHECK_MISCONFIGURED = "misconfigured"
CHECK_DEGRADED = "degraded"
FIX_DOWN = ("SEV-1: check Railway → service status and the latest deploy (sev1_response), "
            "then roll back or restart (rollback notebook)")
FIX_DEGRADED = ("A dependency of the app is failing: follow the section for it "
                "(db_refused for postgres)")
FIX_DEEP_TIMEOUT = ("The deep check did not answer in time while /healthz did: a dependency "
                    "hangs (the app waits up to 3 s on Postgres, then Redis); start with the "
                    "database section (db_refused notebook)")
FIX_WRONG_APP = ("/healthz and the public /api/v1 route answer 404: another app answers on the "
                 "domain. Follow the /api/v1 404 section (api_404 notebook): Railway → "
                 "Settings → Start Command = /app/start.sh (or clear it), redeploy")


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


def check_state(state: Any) -> str:
    """One deep-check dependency's state in the app's vocabulary. The app writes an object
    `{"status": …}`; a bare string or boolean (older builds, other targets) is read too."""
    if isinstance(state, Mapping):
        state = state.get("status", state.get("ok"))
    if state is True:
        return CHECK_OK
    if state is False or state is None:
        return CHECK_FAIL
    text = str(state).strip().lower()
    if text in ("ok", "healthy", "up"):
        return CHECK_OK
    if text in ("skip", "skipped", "disabled", "not_configured"):
        return CHECK_SKIP
    if text in (CHECK_MISCONFIGURED, CHECK_DEGRADED):
        return text
    return CHECK_FAIL


def _short(text: str, limit: int = 120) -> str:
    text = excerpt(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _reason(state: Any) -> str:
    """What the app says about a failing or warned dependency (its `error` or `reason`)."""
    if isinstance(state, Mapping):
        for key in ("error", "reason", "detail"):
            if state.get(key):
                return _short(str(state[key]))
        return ""
    return "" if isinstance(state, bool) else _short(str(state))


def read_deep_checks(checks: Mapping[str, Any]) -> dict[str, list[str]]:
    """The deep check's dependencies grouped by state: {"ok": [...], "skip": [...], …}."""
    groups: dict[str, list[str]] = {CHECK_OK: [], CHECK_SKIP: [], CHECK_FAIL: [],
                                    CHECK_MISCONFIGURED: [], CHECK_DEGRADED: []}
    for name, state in checks.items():
        groups[check_state(state)].append(str(name))
    return groups


def probe_deep(config: Config, timeouts: Timeouts) -> Finding:
    url = config.url(config.service.deep_health_path)
    deep_timeouts = Timeouts(timeouts.connect, max(timeouts.read, DEEP_READ_TIMEOUT))
    response, kind, seconds = get_once(url, deep_timeouts)
    if response is None:
        if kind == "timeout":
            # /healthz already answered (it is asked first): a deep check that does not answer
            # is a hung dependency, not the app down. Never a SEV-1 on its own.
            return failed("health.deep_timeout", f"deep check: no answer within "
                          f"{deep_timeouts.read:g}s while /healthz answered: a dependency "
                          "hangs", FIX_DEEP_TIMEOUT, probe="deep", url=url, failure=kind,
                          seconds=round(seconds, 3))
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
                      "the expected JSON", FIX_DEGRADED, body=excerpt(response.text),
                      failing=[], **evidence)
    raw_checks = data.get("checks")
    checks: dict[str, Any] = raw_checks if isinstance(raw_checks, dict) else {}
    groups = read_deep_checks(checks)
    bad = groups[CHECK_FAIL] + groups[CHECK_DEGRADED]
    warned = groups[CHECK_MISCONFIGURED]
    evidence.update(checks=checks, skipped=groups[CHECK_SKIP], warnings=warned)
    warning = "; warning: " + ", ".join(
        f"{name} misconfigured" + (f" ({_reason(checks[name])})" if _reason(checks[name]) else "")
        for name in warned) if warned else ""
    if not bad and data.get("status", "ok") == "ok":
        skip = f" ({', '.join(groups[CHECK_SKIP])} not configured)" if groups[CHECK_SKIP] else ""
        return passed("health.ok", f"deep check: no dependency failing{skip}{warning}",
                      failing=[], **evidence)
    named = ", ".join(name + (f" ({_reason(checks[name])})" if _reason(checks[name]) else "")
                      for name in bad) or "none named"
    return failed("health.degraded", f"deep check is {data.get('status')!s}: failing "
                  f"{named}{warning}", FIX_DEGRADED, failing=bad, **evidence)


def _wrong_app(healthz: Finding, public: Finding) -> Finding:
    evidence = {**healthz.evidence, "api_probe": public.evidence.get("url"),
                "api_http_status": public.evidence.get("http_status")}
    probe = "healthz" if healthz.evidence.get("probe") == "healthz" else "the deep check"
    return failed("health.wrong_app", f"{probe} answered {healthz.evidence.get('http_status')} "
                  f"and the public route answered {public.evidence.get('http_status')}: the app "
                  "that answers is not the Dealix API (a wrong start command)", FIX_WRONG_APP,
                  **evidence)


def probe_in_order(config: Config, timeouts: Timeouts) -> list[Finding]:
    """/healthz first, with its own verdict; then the deep check, only when /healthz answered
    200. A /healthz that answers 4xx is checked against the public /api/v1 route: both 404 is a
    wrong app, reported with the route's `api.not_found`."""
    [healthz] = guarded("health.healthz", lambda: probe_healthz(config, timeouts))
    status = healthz.evidence.get("http_status")
    if healthz.status is Status.PASS:
        deep = guarded("health.deep", lambda: probe_deep(config, timeouts))
        if any(f.evidence.get("http_status") == 404 for f in deep):
            # /healthz answers but the deep check is 404: another app (a landing page, a
            # static server) may be answering /healthz. The public route tells.
            [public] = guarded("api.public", lambda: api_routes.probe_public(config, timeouts))
            if public.code == "api.not_found":
                return [healthz, _wrong_app(deep[0], public), public]
            return [healthz, *deep, public]
        return [healthz, *deep]
    url = config.url(config.service.deep_health_path)
    not_sent = skipped("health.ok", "deep check not sent: /healthz did not answer 200",
                       probe="deep", url=url)
    if isinstance(status, int) and 400 <= status < 500:
        [public] = guarded("api.public", lambda: api_routes.probe_public(config, timeouts))
        if public.code == "api.not_found":
            return [_wrong_app(healthz, public), public, not_sent]
        return [healthz, public, not_sent]
    return [healthz, not_sent]


def budget(timeouts: Timeouts) -> float:
    """The longest `probe_in_order` can take: /healthz (or the public route), then the deep
    check with its longer read timeout."""
    return 2 * timeouts.total + max(timeouts.read, DEEP_READ_TIMEOUT)


def probe_health(config: Config, timeouts: Timeouts | None = None) -> list[Finding]:
    """/healthz, then the deep check (see the module's note on the order)."""
    timeouts = timeouts or Timeouts(config.probes.connect_timeout, config.probes.read_timeout)
    return probe_in_order(config, timeouts)
