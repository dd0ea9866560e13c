"""Archived notebooks as HTML for postmortem evidence: every cell and output, text escaped,
tracebacks without terminal colours."""

from __future__ import annotations

import base64

import nbformat
import pytest

from runbook.core.errors import RecordError
from runbook.sections.postmortem import notebook_html

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def test_cells_and_outputs() -> None:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("report = sev1.investigate(cfg, t)\nreport", execution_count=3)
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="<script>alert(1)</script>\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>health.down"
                                                     "</td></tr></table>", "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"image/png": PNG}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="bad",
                               traceback=["\x1b[0;31mValueError\x1b[0m: bad"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("## Confirm\nOpen `/healthz` <b>now</b>"), code]
    body = notebook_html.body(nbformat.from_dict(nb))
    assert "<h2>Confirm</h2>" in body and "<code>/healthz</code>" in body
    assert "&lt;b&gt;now" in body                       # raw HTML in markdown is shown, not run
    assert "In [3]:" in body and "report = sev1.investigate(cfg, t)" in body
    assert "&lt;script&gt;" in body and "<script>" not in body
    assert "<td>health.down</td>" in body               # rich output as Jupyter shows it
    assert f'src="data:image/png;base64,{PNG}"' in body
    assert "ValueError: bad" in body and "\x1b" not in body


def test_not_a_notebook() -> None:
    with pytest.raises(RecordError):
        notebook_html.body({"cells": "no"})
