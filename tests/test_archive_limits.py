"""The archive keeps evidence, not floods: long outputs are cut with a marker saying how much."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from nbfactory import write_config, write_notebook
from runbook.archive.notebook_io import MAX_OUTPUT_CHARS, truncate_text


def test_truncate_keeps_head_and_tail_and_says_what_was_cut() -> None:
    text = "".join(f"line {i}\n" for i in range(100_000))
    cut = truncate_text(text)
    assert len(cut) < MAX_OUTPUT_CHARS + 200
    assert cut.startswith("line 0\n") and cut.endswith("line 99999\n")
    assert "truncated by the archive" in cut and "lines" in cut
    assert truncate_text("short\n") == "short\n"


@pytest.mark.slow
def test_a_cell_printing_100000_lines_is_truncated_in_the_archive(
        tmp_path: Path, runs_dir: Path) -> None:
    config = write_config(tmp_path)
    nb = write_notebook(tmp_path, "flood", "for i in range(100_000):\n    print('log line', i)")
    result = run_cli("run", str(nb), "--config", str(config))
    assert result.returncode == 0, result.stderr
    archived = next(runs_dir.glob("*/*/notebook.ipynb"))
    assert archived.stat().st_size < 1_000_000
    notebook = json.loads(archived.read_text())
    text = json.dumps(notebook)
    assert "truncated by the archive" in text
    assert "log line 0" in text and "log line 99999" in text
