"""Redaction at the source, inside the kernel: nothing a cell shows can carry a secret.

The runner redacts every save, but only knows the secrets named in the config. Inside the
kernel the library also learns secrets at run time (Railway's copy of a variable, a URL's
password), so `install()` filters what leaves the kernel: stdout/stderr, rich displays, the
value of the last expression, and tracebacks (their text and the exception's message), and
the raw copy ipykernel writes of a subprocess's output to the terminal the kernel runs in.
"""

from __future__ import annotations

import sys
from typing import Any

from runbook.core.adapters.ipython_traceback import ShowTraceback, wrap_traceback_display
from runbook.core.echo import RedactingPump, redirect_fd
from runbook.core.redaction import registry

__all__ = ["install"]

_INSTALLED_ATTR = "_runbook_redacting"
_ECHO_ATTR = "_runbook_redacting_echo"
_PUMPS: list[RedactingPump] = []


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
        _redact_echo(stream)

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

    def redacting(show: ShowTraceback) -> ShowTraceback:
        def show_redacted(etype: Any, evalue: Any, stb: Any) -> Any:
            # The execute reply carries str(evalue): scrub the exception itself, not only the
            # text.
            try:
                evalue.args = tuple(secrets.redact(a) if isinstance(a, str) else a
                                    for a in evalue.args)
            except (AttributeError, TypeError):
                pass
            return show(etype, evalue, [secrets.redact(line) for line in stb])
        return show_redacted

    wrap_traceback_display(shell, redacting)
    setattr(shell, _INSTALLED_ATTR, True)
    return True


def _redact_echo(stream: Any) -> None:
    """What a subprocess writes to the kernel's file descriptors reaches the terminal the
    kernel was started from raw: directly, or through the copy ipykernel makes (`os.write` on
    its saved descriptor) when it captures them. That descriptor becomes a pipe through the
    redactor, which knows the secrets learned here."""
    try:
        fd: int | None = stream.fileno()  # ipykernel's: its saved copy, when it captures
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        fd = None
    if not isinstance(fd, int):
        # ipykernel does not capture the descriptors: a subprocess writes straight to them.
        fd = {"stdout": 1, "stderr": 2}.get(getattr(stream, "name", ""))
    if fd is None or getattr(stream, _ECHO_ATTR, False):
        return
    try:
        _PUMPS.append(redirect_fd(fd, "kernel-echo"))
        setattr(stream, _ECHO_ATTR, True)
    except (OSError, AttributeError, TypeError):  # no such descriptor: nothing is echoed
        pass


def _wrap_stream(stream: Any) -> None:
    """Every write to `stream` goes through the redactor, whoever replaces `write` later.

    IPython replaces `sys.stdout.write` around every cell (`InteractiveShell._tee`) and puts
    back what it found at the cell's end: a wrapper set as a plain attribute in one cell would
    be gone in the next. The stream's class becomes a subclass whose `write` is a property:
    whatever is assigned is kept as the inner write, and reading `write` gives it wrapped.
    """
    if getattr(stream, _INSTALLED_ATTR, False):
        return
    try:
        current = vars(stream).get("write")  # a cell's own replacement, still in force
        stream.__class__ = _redacting_class(type(stream))
        if current is not None:
            del vars(stream)["write"]
            stream.write = current
        setattr(stream, _INSTALLED_ATTR, True)
    except (AttributeError, TypeError):  # a stream that refuses: wrap its write as it is
        _wrap_write_attribute(stream)


_REDACTING_CLASSES: dict[type, type] = {}
_INNER = "_runbook_inner_write"
_WRAPS = "__runbook_wraps__"


def _redacting(inner: Any) -> Any:
    def write(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, str):
            text = registry().redact(text)
        return inner(text, *args, **kwargs)

    setattr(write, _WRAPS, inner)
    return write


def _redacting_class(base: type) -> type:
    if base in _REDACTING_CLASSES:
        return _REDACTING_CLASSES[base]

    def get_write(self: Any) -> Any:
        inner = self.__dict__.get(_INNER)
        if inner is None:
            inner = base.write.__get__(self, base)  # type: ignore[attr-defined]
        return _redacting(inner)

    def set_write(self: Any, value: Any) -> None:
        # A wrapper handed back (IPython restoring what it saw) is unwrapped: one layer only.
        self.__dict__[_INNER] = getattr(value, _WRAPS, value)

    def del_write(self: Any) -> None:
        self.__dict__.pop(_INNER, None)

    cls = type(base.__name__, (base,), {"write": property(get_write, set_write, del_write),
                                        "__module__": base.__module__})
    _REDACTING_CLASSES[base] = cls
    return cls


def _wrap_write_attribute(stream: Any) -> None:
    original = stream.write

    def write(text: str) -> int:
        result: int = original(registry().redact(text))
        return result

    try:
        stream.write = write
        setattr(stream, _INSTALLED_ATTR, True)
    except (AttributeError, TypeError):  # a stream that refuses new attributes stays as it is
        pass
