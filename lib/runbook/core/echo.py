"""Raw output that reaches a terminal without passing through Python's streams — a kernel's
own stdout and stderr, a subprocess writing to an inherited file descriptor — redacted on its
way: a pipe takes the place of the descriptor, and a thread writes what comes out of it,
line by line, through the secret registry.

Whole lines are redacted at once, so a secret is never cut by a read boundary; a partial line
is let through after a short idle time (a prompt), and any piece of a secret long enough to be
recognised (see `redaction.FRAGMENT_LENGTH`) is still caught in it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

from runbook.core.redaction import registry

IDLE_FLUSH_SECONDS = 0.2
MAX_PENDING_BYTES = 64 * 1024


class RedactingPump:
    """Reads `read_fd` until EOF and writes it, redacted, to `write_fd`."""

    def __init__(self, read_fd: int, write_fd: int, name: str = "echo") -> None:
        self._read_fd, self._write_fd = read_fd, write_fd
        self._thread = threading.Thread(target=self._run, name=f"redacting-{name}",
                                        daemon=True)
        self._thread.start()

    def _emit(self, chunk: bytes) -> None:
        if not chunk:
            return
        text = registry().redact(chunk.decode("utf-8", errors="replace"))
        data = text.encode("utf-8")
        with contextlib.suppress(OSError):  # the terminal went away: nothing left to protect
            while data:
                written = os.write(self._write_fd, data)
                data = data[written:]

    def _run(self) -> None:
        pending = b""
        try:
            while True:
                ready, _, _ = select.select([self._read_fd], [], [],
                                            IDLE_FLUSH_SECONDS if pending else None)
                if not ready:
                    self._emit(pending)
                    pending = b""
                    continue
                data = os.read(self._read_fd, 65536)
                if not data:
                    break
                pending += data
                cut = pending.rfind(b"\n") + 1
                if cut == 0 and len(pending) > MAX_PENDING_BYTES:
                    cut = len(pending)
                if cut:
                    self._emit(pending[:cut])
                    pending = pending[cut:]
        except OSError:
            pass
        finally:
            self._emit(pending)
            with contextlib.suppress(OSError):
                os.close(self._read_fd)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def redirect_fd(fd: int, name: str = "echo") -> RedactingPump:
    """Make `fd` a pipe whose output goes, redacted, where `fd` used to go."""
    original = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)
    return RedactingPump(read_end, original, name)


def pipe_to(write_fd: int, name: str = "echo") -> tuple[int, RedactingPump]:
    """A new pipe whose output goes, redacted, to `write_fd`: (the pipe's write end, pump).
    The caller gives the write end away (to a child process) and closes its own copy."""
    read_end, write_end = os.pipe()
    return write_end, RedactingPump(read_end, write_fd, name)
