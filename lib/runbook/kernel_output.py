"""Redaction at the source, inside the kernel: nothing a cell shows can carry a secret.

The runner redacts every save, but only knows the secrets named in the config. Inside the
kernel the library also learns secrets at run time (Railway's copy of a variable, a URL's
password), so `install()` filters what leaves the kernel: stdout/stderr, rich displays, the
value of the last expression, and tracebacks (their text and the exception's message).
"""

from __future__ import annotations

import sys
from typing import Any

from runbook.core.redaction import registry

_INSTALLED_ATTR = "_runbook_redacting"


def install() -> bool:
    """Hook the running IPython kernel; False when there is none (plain Python, tests)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if getattr(shell, _INSTALLED_ATTR, False):
        return True
    secrets = registry()
    for stream in (sys.stdout, sys.stderr):
        _wrap_stream(stream)

    publisher = shell.display_pub
    original_publish = publisher.publish

    def publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original_publish(secrets.redact_obj(data), metadata, *args, **kwargs)

    publisher.publish = publish

    hook = shell.displayhook
    if hasattr(hook, "write_format_data"):
        original_write = hook.write_format_data

        def write_format_data(format_dict: Any, md_dict: Any = None) -> Any:
            return original_write(secrets.redact_obj(format_dict), md_dict)

        hook.write_format_data = write_format_data

    original_showtraceback = shell._showtraceback

    def _showtraceback(etype: Any, evalue: Any, stb: Any) -> Any:
        # The execute reply carries str(evalue): scrub the exception itself, not only the text.
        try:
            evalue.args = tuple(secrets.redact(a) if isinstance(a, str) else a
                                for a in evalue.args)
        except (AttributeError, TypeError):
            pass
        return original_showtraceback(etype, evalue, [secrets.redact(line) for line in stb])

    shell._showtraceback = _showtraceback
    setattr(shell, _INSTALLED_ATTR, True)
    return True


def _wrap_stream(stream: Any) -> None:
    if getattr(stream, _INSTALLED_ATTR, False):
        return
    original = stream.write

    def write(text: str) -> int:
        result: int = original(registry().redact(text))
        return result

    try:
        stream.write = write
        setattr(stream, _INSTALLED_ATTR, True)
    except (AttributeError, TypeError):  # a stream that refuses new attributes stays as it is
        pass
