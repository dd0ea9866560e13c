"""Run independent checks at once, each with its own timeout, under one overall bound.

Threads, not asyncio: notebook cells already run inside the kernel's event loop, and the
clients are plain blocking httpx. A slow service then costs its own timeout, not the sum.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Mapping

from runbook.core.findings import Finding, errored, guarded

Check = Callable[[], Finding | list[Finding]]


def run_concurrently(checks: Mapping[str, Check], bound: float) -> list[Finding]:
    """Run each check (keyed by the finding code used if it raises) and return all findings,
    in the order given. A check still running after `bound` seconds is reported as `error`;
    its thread is left to end on its own timeout.
    """
    if not checks:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(checks),
                                                 thread_name_prefix="probe")
    started = time.monotonic()
    futures = {code: pool.submit(guarded, code, check) for code, check in checks.items()}
    concurrent.futures.wait(futures.values(), timeout=bound)
    pool.shutdown(wait=False, cancel_futures=True)
    findings: list[Finding] = []
    for code, future in futures.items():
        if future.done():
            findings.extend(future.result())
        else:
            findings.append(errored(code, f"no result within the {bound:g}s bound",
                                    seconds=round(time.monotonic() - started, 3)))
    return findings
