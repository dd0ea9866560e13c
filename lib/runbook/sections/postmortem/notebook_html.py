"""An archived notebook as the body of an HTML page: its cells in order, code as text, and each
output as Jupyter shows it (HTML and images as sent, text escaped, tracebacks without terminal
colours). For reading a run without Jupyter.

A direct walk of the notebook's JSON: about a millisecond a notebook, where nbconvert's general
exporter (templates, a schema check after every preprocessor, two HTML re-parses, syntax
highlighting) takes ~20 ms, which made a postmortem of a 200-run incident take seconds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import re
from typing import Any

from runbook.core.errors import RecordError

# The richest form first, as Jupyter picks it.
MIME_ORDER = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
              "text/markdown", "text/latex", "application/json", "text/plain")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _text(value: Any) -> str:
    """nbformat keeps multiline strings as a list of lines."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def _pre(text: str, css: str) -> str:
    return f'<pre class="{css}">{html.escape(text)}</pre>'


@functools.cache
def _markdown_renderer() -> Any:
    import mistune

    # escape=True: markdown's text is shown, raw HTML in it is not run.
    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def _markdown(text: str) -> str:
    return str(_markdown_renderer()(text))


def _image(mime: str, data: Any) -> str:
    encoded = re.sub(r"\s+", "", _text(data))
    try:
        base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return _pre("(an image that is not valid base64)", "output error")
    return f'<img src="data:{mime};base64,{encoded}" alt="{html.escape(mime)} output">'


def _rich(data: dict[str, Any]) -> str:
    mime = next((m for m in MIME_ORDER if m in data), None)
    if mime is None:
        return _pre(f"(output in {', '.join(sorted(data))})", "output")
    value = data[mime]
    if mime in ("text/html", "image/svg+xml"):
        return f'<div class="output html">{_text(value)}</div>'
    if mime.startswith("image/"):
        return _image(mime, value)
    if mime == "text/markdown":
        return f'<div class="output markdown">{_markdown(_text(value))}</div>'
    if mime == "application/json":
        import json

        return _pre(json.dumps(value, indent=2, ensure_ascii=False), "output")
    return _pre(_text(value), "output")


def _output(output: Any) -> str:
    if not isinstance(output, dict):
        return ""
    kind = output.get("output_type")
    if kind == "stream":
        return _pre(_text(output.get("text")), f"output stream {output.get('name', '')}".strip())
    if kind == "error":
        trace = "\n".join(_text(line) for line in output.get("traceback") or []) or \
            f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return _pre(_ANSI.sub("", trace), "output error")
    if kind in ("execute_result", "display_data") and isinstance(output.get("data"), dict):
        return _rich(output["data"])
    return ""


def _cell(cell: Any) -> str:
    if not isinstance(cell, dict):
        return ""
    kind = cell.get("cell_type")
    source = _text(cell.get("source"))
    if kind == "markdown":
        return f'<div class="cell markdown">{_markdown(source)}</div>'
    if kind != "code":
        return f'<div class="cell raw">{_pre(source, "input")}</div>'
    count = cell.get("execution_count")
    prompt = f"In [{count if isinstance(count, int) else ' '}]:"
    outputs = "".join(_output(o) for o in cell.get("outputs") or [])
    return (f'<div class="cell code"><div class="prompt">{prompt}</div>'
            f'{_pre(source, "input")}{outputs}</div>')


def body(notebook: Any) -> str:
    """The HTML of every cell of a notebook (its parsed JSON, format 4)."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise RecordError("not a notebook: no list of cells")
    return "\n".join(_cell(cell) for cell in notebook["cells"])
