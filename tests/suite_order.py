"""The order the suite is handed to its workers: the modules with the most slow tests first.

`bootstrap.py test` runs on several workers with `--dist loadscope --no-loadscope-reorder`: a
module's tests stay on one worker (a module-scoped fixture, such as the canary sweep's drills,
is made once), and modules are handed out in collection order. Left to itself, xdist would
hand out the modules with the most tests first, so the canary sweep (few tests, the longest
module) started last and the run waited on it alone. Long modules first, the many short ones
after: they fill the workers while the long ones finish.
"""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_tests = Counter(item.path for item in items if item.get_closest_marker("slow"))
    # sort is stable: within a module, and among modules of equal weight, the order is kept.
    items.sort(key=lambda item: -slow_tests[item.path])
