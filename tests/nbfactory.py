"""Small notebooks and configs for runner tests, written into a test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import nbformat

CONFIG = """
[service]
name = "dealix"
base_url = "http://127.0.0.1:9"

[slack]
webhook_url_env = "TEST_SLACK_WEBHOOK_URL"

[railway]
project_id = "p"
environment_id = "e"
service_id = "s"
token_env = "TEST_RAILWAY_TOKEN"
"""


def write_config(directory: Path, text: str = CONFIG) -> Path:
    path = directory / "runbook.toml"
    path.write_text(text)
    return path


def write_notebook(directory: Path, name: str, *cells: str,
                   parameters: str = 'incident_id: str = ""  # incident\n'
                                     'count: int = 1  # how many\n'
                                     'ratio: float = 0.5  # a ratio\n'
                                     'confirm: bool = False  # do it\n'
                                     'label: str = "x"  # a label\n') -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells)]
    path = directory / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path
