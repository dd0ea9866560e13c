"""`runbook lab` serves a working copy of the notebooks per incident, never the tracked ones
unless `--notebooks` says so."""

from __future__ import annotations

import argparse
from pathlib import Path

from runbook.host.commands.lab import options_from
from runbook.host.lab import working_copy
from runbook.host.runner import notebooks_dir


def args(tmp_path: Path, **given: object) -> argparse.Namespace:
    config = tmp_path / "runbook.toml"
    config.write_text('[service]\nname = "dealix"\nbase_url = "http://127.0.0.1:9"\n')
    values: dict[str, object] = {"config": str(config), "port": 0, "incident": None,
                                 "notebooks": None}
    values.update(given)
    return argparse.Namespace(**values)


def test_the_default_is_a_working_copy_per_incident(tmp_path: Path, runs_dir: Path) -> None:
    options = options_from(args(tmp_path, incident="inc-lab-1"))
    assert options.notebooks == (runs_dir / ".lab" / "inc-lab-1").resolve()
    assert options.notebooks != notebooks_dir().resolve()
    tracked = sorted(p.name for p in notebooks_dir().glob("*.ipynb"))
    assert sorted(p.name for p in options.notebooks.glob("*.ipynb")) == tracked
    # The responder's saved work is kept when the lab starts again for the incident.
    saved = options.notebooks / "rollback.ipynb"
    saved.write_text("saved by the responder")
    again = options_from(args(tmp_path, incident="inc-lab-1"))
    assert again.notebooks == options.notebooks and saved.read_text() == "saved by the responder"
    assert options.incident == "inc-lab-1"
    # Without an incident, one is allocated for the lab session (the first run opens it), and
    # the working copy is its own; nothing is opened in the archive yet.
    fresh = options_from(args(tmp_path))
    assert fresh.notebooks.parent == options.notebooks.parent
    assert fresh.incident.startswith("inc-") and fresh.notebooks.name == fresh.incident
    assert not (runs_dir / fresh.incident).exists()


def test_notebooks_serves_the_directory_itself(tmp_path: Path) -> None:
    options = options_from(args(tmp_path, notebooks=str(notebooks_dir())))
    assert options.notebooks == notebooks_dir().resolve()
    assert options.incident.startswith("inc-")     # the lab session still has one incident


def test_a_copy_only_adds_what_is_missing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.ipynb").write_text("a")
    (source / "notes.txt").write_text("not a notebook")
    copy = working_copy(source, tmp_path / "copy")
    assert [p.name for p in copy.iterdir()] == ["a.ipynb"]
