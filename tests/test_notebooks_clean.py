"""The tracked notebooks carry no outputs and no execution counts: a responder's saved work,
with whatever it showed, never lands in a commit. (`runbook lab` serves a working copy; this
catches a notebook saved into `notebooks/` anyway.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_tracked_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    dirty = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; "
                       f"regenerate it with its tools/make_{path.stem}.py, or clear them")
    assert "papermill" not in nb.metadata and "runbook" not in nb.metadata, \
        f"{path.name} was saved from a run: regenerate it"
