"""Each archived notebook rendered to HTML, for reading without Jupyter.

Two engines: `fast` (`notebook_html`, about a millisecond a notebook: the default, so a
200-run incident's postmortem takes about a second) and `nbconvert` (Jupyter's own exporter,
with syntax highlighting and the lab's look, 20–80 ms a notebook).

The archive already holds redacted notebooks; the HTML goes through the secret registry once
more, so a secret registered since (the config's) cannot appear either. A render is redone only
when its notebook changed: `manifest.json` keeps the SHA-256 of the notebook each page came from.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runbook.archive.lines import encode_json
from runbook.core.files import write_atomic
from runbook.core.redaction import registry
from runbook.sections.postmortem import notebook_html
from runbook.sections.postmortem.history import Run

MANIFEST = "manifest.json"
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; }}
.runbook-evidence {{ border-left: 6px solid #1a73e8; padding: .5em 1em; background: #f1f3f4; }}
pre {{ background: #f8f9fa; padding: .5em; overflow-x: auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #dadce0; padding: 2px 6px; }}
.jp-InputPrompt, .prompt {{ color: #80868b; font-size: .8em; }}
</style></head><body>
<div class="runbook-evidence"><b>Archived run</b> {run} of incident <code>{incident}</code>
— notebook <code>{notebook}</code>, status <b>{status}</b>, started {started}<br>
notebook sha256 <code>{sha}</code></div>
{body}
</body></html>
"""


@dataclass
class Rendered:
    run: str
    path: Path
    fresh: bool               # rendered now (False: the page was up to date)
    error: str = ""


def page_name(run: Run) -> str:
    return f"{run.name}.html"


_HEADER = """<div class="runbook-evidence" style="border-left:6px solid #1a73e8;padding:.5em 1em;
background:#f1f3f4"><b>Archived run</b> {run} of incident <code>{incident}</code>
— notebook <code>{notebook}</code>, status <b>{status}</b>, started {started}<br>
notebook sha256 <code>{sha}</code></div>"""


def _nbconvert_page(notebook: dict[str, object]) -> str:
    """The whole page from Jupyter's own exporter (the lab's look, highlighted code)."""
    import nbformat
    from nbconvert import HTMLExporter

    # reads() joins multi-line sources and outputs, as the exporter expects.
    node = nbformat.reads(json.dumps(notebook), as_version=4)
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(node)
    return str(page)


def _render(run: Run, data: bytes, sha: str, engine: str = "fast") -> str:
    notebook = json.loads(data.decode("utf-8"))
    fields = dict(
        run=html.escape(run.name), incident=html.escape(str(run.record.get("incident_id"))),
        notebook=html.escape(run.notebook), status=html.escape(run.status),
        started=html.escape(str(run.record.get("started_at"))), sha=sha)
    if engine == "nbconvert":
        page = _nbconvert_page(notebook)
        at = page.find(">", page.find("<body")) + 1
        page = page[:at] + _HEADER.format(**fields) + page[at:]
    else:
        page = _PAGE.format(
            title=html.escape(f"{run.notebook} — {run.record.get('incident_id', '')}"),
            body=notebook_html.body(notebook), **fields)
    return registry().redact(page)


def _manifest(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def render_all(runs: Iterable[Run], directory: Path, engine: str = "fast") -> list[Rendered]:
    """Render every run's notebook into `directory` (one page per run), skipping pages whose
    notebook has not changed since they were written by the same engine."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(directory)
    results = []
    for run in runs:
        target = directory / page_name(run)
        data = run.notebook_bytes()
        if data is None:
            results.append(Rendered(run.name, target, False, "the archived notebook is missing"))
            continue
        sha = hashlib.sha256(data).hexdigest()
        stamp = sha if engine == "fast" else f"{sha}:{engine}"
        if manifest.get(run.name) == stamp and target.is_file():
            results.append(Rendered(run.name, target, False))
            continue
        try:
            page = _render(run, data, sha, engine)
        except Exception as exc:  # noqa: BLE001 - one unreadable notebook must not stop the rest
            results.append(Rendered(run.name, target, False,
                                    registry().redact(f"{type(exc).__name__}: {exc}")))
            continue
        write_atomic(target, page.encode("utf-8"))
        manifest[run.name] = stamp
        results.append(Rendered(run.name, target, True))
    write_atomic(directory / MANIFEST, encode_json(dict(sorted(manifest.items()))))
    return results
