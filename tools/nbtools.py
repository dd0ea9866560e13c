"""Write a runbook notebook from a list of cells: outputs empty, the parameters cell tagged.

    from tools.nbtools import md, code, params, write
    write("notebooks/x.ipynb", [md("# Title"), params("a: str = ''  # help"), code("…")])
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip())


def params(text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip())
    cell.metadata["tags"] = ["parameters"]
    return cell


def write(path: str | Path, cells: list[nbformat.NotebookNode]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(cells):
        cell["id"] = f"c{index:02d}"
    nb.cells = cells
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
