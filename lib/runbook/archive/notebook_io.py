"""Every notebook byte the archive keeps is written here: redacted, size-capped, atomic.

papermill writes the output notebook after every cell through its I/O registry; registering
the `runbook-archive://` scheme routes each of those saves through `save_text`, so a secret
never reaches the disk, not even in a notebook saved halfway through a run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from runbook.archive.record import write_atomic
from runbook.core.redaction import registry

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


def _cap_outputs(nb: dict[str, Any]) -> None:
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else str(text)
                output["text"] = truncate_text(text)
            for mime, value in (output.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    joined = "".join(value) if isinstance(value, list) else value
                    if isinstance(joined, str):
                        output["data"][mime] = truncate_text(joined)


def clean_notebook_json(text: str) -> str:
    nb = json.loads(text)
    nb = registry().redact_obj(nb)
    _cap_outputs(nb)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def save_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, clean_notebook_json(text).encode("utf-8"))


def save_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    save_text(nbformat.writes(nb), path)


class _ArchiveHandler:
    @classmethod
    def read(cls, path: str) -> str:
        return Path(path.removeprefix(ARCHIVE_SCHEME)).read_text(encoding="utf-8")

    @classmethod
    def listdir(cls, path: str) -> list[str]:
        return [str(p) for p in Path(path.removeprefix(ARCHIVE_SCHEME)).iterdir()]

    @classmethod
    def write(cls, buf: str, path: str) -> None:
        save_text(buf, Path(path.removeprefix(ARCHIVE_SCHEME)))

    @classmethod
    def pretty_path(cls, path: str) -> str:
        return path.removeprefix(ARCHIVE_SCHEME)


def register_archive_io() -> None:
    from papermill.iorw import papermill_io

    if ARCHIVE_SCHEME not in dict(papermill_io._handlers):
        papermill_io.register(ARCHIVE_SCHEME, _ArchiveHandler)


def mark_notebook(path: Path, status: str, error: str) -> None:
    """Put the run's outcome in the notebook's metadata, with a banner when it did not finish.

    papermill already marks a failing cell (its error banner and the cell's traceback); a run
    stopped by the deadline or a signal gets a banner naming the cell it was in.
    """
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["runbook"] = {"status": status, "error": error}
    if status in ("aborted", "timed_out"):
        running = next((i for i, c in enumerate(nb.cells)
                        if c.get("metadata", {}).get("papermill", {}).get("status") == "running"),
                       None)
        where = f" while cell {running} was running" if running is not None else ""
        text = (f'<span style="color:red;font-size:2em">Run {status.replace("_", " ")}{where}'
                f"</span>\n\n{error}")
        banner = nbformat.v4.new_markdown_cell(text, metadata={"tags": ["runbook-status"]})
        if running is not None:
            nb.cells[running].metadata.setdefault("tags", []).append("runbook-stopped-here")
        nb.cells.insert(0, banner)
    save_notebook(nb, path)
