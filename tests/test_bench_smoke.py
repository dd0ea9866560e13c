"""The benchmarks' building blocks import and run in a tiny configuration. Nothing here checks
a time: the figures are measured by `python3 bootstrap.py bench`, never asserted in tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import archive, run, runner, triage


@pytest.mark.slow
def test_probes_run_together_and_one_by_one() -> None:
    figure = triage.triage_parallel_vs_serial(repeats=1, delay=0.05)
    detail = figure.detail
    assert figure.name == "triage_parallel_vs_serial" and figure.value > 0
    assert {"dealix", "railway", "uptimerobot", "moyasar"} <= set(detail["delayed_services"])
    assert detail["findings"]["health.down"] == "fail"      # the outage drill, diagnosed
    # /healthz and the deep check are one check: the deep check goes out after /healthz.
    assert set(detail["each_check_alone_ms"]) == {"health.healthz", "deploy.ok", "uptime.up",
                                                  "db.ok", "moyasar.ok"}


@pytest.mark.slow
def test_a_hung_service_is_reported_not_passed() -> None:
    figure = triage.hang_bound(repeats=1, timeout=0.5)
    for service, outcome in figure.detail["per_service"].items():
        assert outcome["reported_as"], f"{service} hung but no finding said so"


@pytest.mark.slow
def test_archive_figures_on_a_small_archive() -> None:
    index = archive.index_speedup(count=60, repeats=1, cli=False)
    assert index.detail["records"] == 60
    postmortem = archive.postmortem_200(runs=3)
    assert postmortem.detail["pages"] == 3


def test_the_runner_notebook_is_valid(tmp_path: Path) -> None:
    nb = nbformat.read(str(runner.write_notebook(tmp_path / "cells.ipynb")), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].metadata["tags"] == ["parameters"]


def test_results_and_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    code = run.main(["--quick", "--only", "index_speedup", "--out", str(out)])
    data = json.loads(out.read_text())
    figure = data["figures"]["index_speedup"]
    assert set(figure) >= {"value", "goal", "met", "detail"} and code in (0, 1)
    assert data["machine"]["cpus"] and data["at"]
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{run.README_START}\nold\n{run.README_END}\nafter\n")
    run.update_readme("| new |", readme)
    assert readme.read_text() == f"# x\n\n{run.README_START}\n| new |\n{run.README_END}\nafter\n"


@pytest.mark.parametrize("name", ["triage_parallel_vs_serial", "hang_bound", "index_speedup",
                                  "postmortem_200", "runner_overhead", "peak_rss_mb"])
def test_all_six_figures_are_planned(name: str) -> None:
    assert name in dict(run.plan(quick=True))
