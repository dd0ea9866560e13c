"""Environment variables set for a `with` block and put back after, as they were."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def environment_with(values: Mapping[str, str | None]) -> Iterator[None]:
    """`values` set in os.environ for the `with` (None: unset), and the environment put back
    after, set or unset as each variable was."""
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
