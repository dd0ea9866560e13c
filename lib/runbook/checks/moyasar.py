"""Is Moyasar itself down? Moyasar publishes no status API, so the check is a timed,
authenticated call to the API (`MoyasarClient.probe`). A refused key is a key problem
(`moyasar.key_rejected`), never an outage; 5xx, a timeout or a refused connection is
`moyasar.down`.
"""

from __future__ import annotations

import time

from runbook.clients.moyasar import PAYMENTS_PATH, MoyasarClient
from runbook.clients.transport import Timeouts
from runbook.core.config import Config
from runbook.core.errors import AuthError, RateLimited, ServiceUnavailable
from runbook.core.findings import Finding, errored, failed, passed, skipped
from runbook.core.redaction import registry

SLOW_SECONDS = 3.0   # slower than this is worth saying, not yet an outage

FIX_DOWN = ("Moyasar's API is failing: payments cannot complete. Tell Moyasar support, post the "
            "customer notice, and check again; there is nothing to roll back on Dealix's side")
FIX_KEY = ("Moyasar refused the secret key: compare the key in the Moyasar dashboard (Settings → "
           "API keys) with Railway's MOYASAR_SECRET_KEY; if the app uses the same key, "
           "payments fail too")


def check_outage(config: Config, timeouts: Timeouts) -> Finding:
    settings = config.moyasar
    if settings is None:
        return skipped("moyasar.ok", "Moyasar is not configured (no [moyasar] section)")
    key = registry().read_env(settings.secret_key_env)
    if not key:
        return skipped("moyasar.ok", f"${settings.secret_key_env} is not set: Moyasar's API "
                       "not checked")
    url = settings.api_url.rstrip("/") + PAYMENTS_PATH
    started = time.monotonic()
    evidence: dict[str, object] = {"url": url}
    try:
        response, body, _ = MoyasarClient(settings, key, timeouts).probe()
    except AuthError as exc:
        return failed("moyasar.key_rejected", f"Moyasar answered but refused the key in "
                      f"${settings.secret_key_env}: a key problem, not an outage", FIX_KEY,
                      detail=str(exc), seconds=round(time.monotonic() - started, 3), **evidence)
    except RateLimited as exc:
        return errored("moyasar.ok", f"Moyasar is up but rate limiting this key: {exc}",
                       seconds=round(time.monotonic() - started, 3), **evidence)
    except ServiceUnavailable as exc:
        return failed("moyasar.down", str(exc), FIX_DOWN,
                      seconds=round(time.monotonic() - started, 3), **evidence)
    seconds = round(time.monotonic() - started, 3)
    evidence.update(http_status=response.status_code, seconds=seconds)
    if response.status_code != 200 or not isinstance(body, dict) or "payments" not in body:
        return failed("moyasar.down", f"Moyasar answered {response.status_code} without the "
                      "payments list", FIX_DOWN, **evidence)
    slow = " (slow)" if seconds > SLOW_SECONDS else ""
    return passed("moyasar.ok", f"Moyasar's API answered 200 in {seconds * 1000:.0f} ms{slow}",
                  **evidence)
