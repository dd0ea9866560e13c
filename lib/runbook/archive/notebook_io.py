"""Every notebook byte the archive keeps is written here: redacted, size-capped, atomic.

papermill writes the output notebook after every cell through its I/O registry; registering
the `runbook-archive://` scheme routes each of those saves through `save_text` into the
archive's store, so a secret never reaches the disk, not even in a notebook saved halfway
through a run.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

from runbook.archive.store import ArchiveStore
from runbook.core.redaction import registry

if TYPE_CHECKING:
    # imported where used: a kernel that never reads or writes a notebook skips nbformat
    # (and jsonschema, which it imports): a tenth of its start
    import nbformat

ARCHIVE_SCHEME = "runbook-archive://"
MAX_OUTPUT_CHARS = 20_000      # per stream output or text result kept in the archive
MAX_OUTPUT_LINES = 400


def truncate_text(text: str) -> str:
    """Keep the head and the tail of a long output, and say how much was cut."""
    lines = text.splitlines(keepends=True)
    if len(text) <= MAX_OUTPUT_CHARS and len(lines) <= MAX_OUTPUT_LINES:
        return text
    head, tail = lines[: MAX_OUTPUT_LINES // 2], lines[-MAX_OUTPUT_LINES // 4:]
    kept = "".join(head)[: MAX_OUTPUT_CHARS // 2]
    end = "".join(tail)[-MAX_OUTPUT_CHARS // 4:]
    cut_lines = max(0, len(lines) - len(head) - len(tail))
    cut_chars = max(0, len(text) - len(kept) - len(end))
    marker = (f"\n[… truncated by the archive: {cut_lines} lines, {cut_chars} characters "
              "cut …]\n")
    return kept + marker + end


def _cap_outputs(nb: dict[str, Any]) -> bool:
    """Cut every long output down (`truncate_text`); whether any was."""
    cut = False
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else str(text)
                kept = truncate_text(text)
                cut = cut or kept is not text
                output["text"] = kept
            for mime, value in (output.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    joined = "".join(value) if isinstance(value, list) else value
                    if isinstance(joined, str):
                        kept = truncate_text(joined)
                        cut = cut or kept is not joined
                        output["data"][mime] = kept
    return cut


def clean_notebook_json(text: str) -> str:
    """The notebook JSON `text` as the archive keeps it: redacted, its outputs capped.

    papermill saves the whole notebook twice a cell, so most saves hold no secret and no long
    output: those are kept as given (nbformat's own JSON), after one pass in C over the text and
    over its strings re-encoded, rather than a walk through every string and a re-encoding in
    Python. Both passes: the given text may escape a character its strings hold plainly."""
    nb = json.loads(text)
    secrets = registry()
    if secrets.may_hold_secret(text) or secrets.may_hold_secret(
            json.dumps(nb, ensure_ascii=False)):
        nb = secrets.redact_obj(nb)
        _cap_outputs(nb)
    elif not _cap_outputs(nb):
        return text if text.endswith("\n") else text + "\n"
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def save_text(text: str, store: ArchiveStore, key: str) -> None:
    store.replace(key, clean_notebook_json(text).encode("utf-8"))


def save_notebook(nb: nbformat.NotebookNode, store: ArchiveStore, key: str) -> None:
    import nbformat

    save_text(nbformat.writes(nb), store, key)


# papermill names its output by a string: `runbook-archive://<store token>/<key>`, the token
# standing for a store of this process (runs can share a process, each with its own store).
_STORES: dict[str, ArchiveStore] = {}
_STORES_LOCK = threading.Lock()


def notebook_url(store: ArchiveStore, key: str) -> str:
    """The papermill output name that saves `key` through `save_text` into `store`."""
    with _STORES_LOCK:
        token = next((t for t, s in _STORES.items() if s is store), None)
        if token is None:
            token = secrets.token_hex(6)
            _STORES[token] = store
    return f"{ARCHIVE_SCHEME}{token}/{key}"


def _resolve(url: str) -> tuple[ArchiveStore, str]:
    token, _, key = url.removeprefix(ARCHIVE_SCHEME).partition("/")
    with _STORES_LOCK:
        return _STORES[token], key


class _ArchiveHandler:
    @classmethod
    def read(cls, path: str) -> str:
        store, key = _resolve(path)
        return store.read_bytes(key).decode("utf-8")

    @classmethod
    def listdir(cls, path: str) -> list[str]:
        store, key = _resolve(path)
        return [f"{path.rstrip('/')}/{name}" for name in store.children(key)]

    @classmethod
    def write(cls, buf: str, path: str) -> None:
        store, key = _resolve(path)
        save_text(buf, store, key)

    @classmethod
    def pretty_path(cls, path: str) -> str:
        store, key = _resolve(path)
        return store.location(key)


def register_archive_io() -> None:
    from papermill.iorw import papermill_io

    # Unregistered, a scheme's path gets the handler of local paths.
    if papermill_io.get_handler(f"{ARCHIVE_SCHEME}probe") is papermill_io.get_handler("/"):
        papermill_io.register(ARCHIVE_SCHEME, _ArchiveHandler)


def mark_notebook(store: ArchiveStore, key: str, status: str, error: str,
                  **extra: str) -> str:
    """Put the run's outcome in the notebook's metadata, with a banner when it did not finish.

    papermill already marks a failing cell (its error banner and the cell's traceback); a run
    stopped by the deadline or a signal gets a banner naming the cell it was in. Returns that
    cell, described for the record ("" when the run finished or stopped before any cell).
    """
    import nbformat

    nb = nbformat.reads(store.read_bytes(key).decode("utf-8"), as_version=4)
    nb.metadata["runbook"] = {"status": status, "error": error, **extra}
    where = ""
    if status in ("aborted", "timed_out", "abandoned"):
        stopped = stopped_cell(nb)
        where = describe_cell(nb, stopped) if stopped is not None else ""
        nb.metadata["runbook"]["stopped_in"] = where
        text = (f'<span style="color:red;font-size:2em">Run {status.replace("_", " ")}'
                f'{" in " + where if where else ""}</span>\n\n{error}')
        banner = nbformat.v4.new_markdown_cell(text, metadata={"tags": ["runbook-status"]})
        if stopped is not None:
            nb.cells[stopped].metadata.setdefault("tags", []).append("runbook-stopped-here")
        nb.cells.insert(0, banner)
    save_notebook(nb, store, key)
    return where


def stopped_cell(nb: nbformat.NotebookNode) -> int | None:
    """The cell a killed run stopped in: the one papermill marks `running`, else the last one
    it started. (When the kernel is killed, papermill still closes the cell it was in as
    `completed`, so its status alone cannot say.)"""
    marks = [c.get("metadata", {}).get("papermill", {}) for c in nb.cells]
    running = next((i for i, m in enumerate(marks) if m.get("status") == "running"), None)
    if running is not None:
        return running
    started = [i for i, m in enumerate(marks) if m.get("start_time")]
    return started[-1] if started else None


def describe_cell(nb: nbformat.NotebookNode, index: int) -> str:
    """`cell 4 (code: rollback.wait(…))`: its place among the code cells, and its first line."""
    cell = nb.cells[index]
    number = sum(1 for c in nb.cells[:index + 1] if c.cell_type == "code")
    first = next((line.strip() for line in str(cell.source).splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:59] + "…"
    return f"code cell {number}" + (f" ({first})" if first else "")
