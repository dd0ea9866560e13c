"""Coverage of lib/ in the processes the tests start: the `runbook` commands, serve's runs, the
kernels that run the notebooks.

When the suite is measured (`bootstrap.py test` passes `--cov`), every Python process started
from here on starts coverage itself: coverage's .pth file (installed with the package) reads
COVERAGE_PROCESS_START, the settings written below, and the data lands beside the suite's own,
where pytest-cov combines it at the end.

Those settings name the library's files (`include`) rather than its package (`source_pkgs`, as
pyproject.toml does for the suite itself): the package form makes each save walk the whole tree
for files never run, and kernels save often. They must: a run's kernel is killed (SIGKILL) when
its notebook is done, so nothing it measured would be written at exit. An IPython startup file
saves after every cell instead.

The processes of the tests marked `unmeasured` run without coverage (the tests themselves are
measured): the canary sweep's twenty-three drills, which run again, end to end, what other
tests run in measured processes. With the sweep also grading the six drills two other modules
used to run again, pytest went from 477 s to 438 s and the total from 91.5% to 91.4%: a floor
that barely moved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "lib" / "runbook"

KERNEL_STARTUP = '''\
def _save_coverage_after_every_cell() -> None:
    import coverage

    measuring = coverage.Coverage.current()
    if measuring is not None:
        get_ipython().events.register("post_run_cell", lambda result: measuring.save())


_save_coverage_after_every_cell()
del _save_coverage_after_every_cell
'''


def settings(data_file: Path) -> str:
    return "\n".join([
        "[run]",
        f"include = {LIBRARY}/*",
        "omit = */runbook/drill/fakes/*",
        "branch = true",
        "parallel = true",
        f"data_file = {data_file}",
        "",
    ])


# This worker's settings file and IPython folder, made at its first test when it is measured.
_made: dict[str, Path] = {}


def _measuring() -> dict[str, str] | None:
    """The variables that make a started process measure itself; None when this one is not
    measured."""
    import coverage

    measuring = coverage.Coverage.current()
    if measuring is None:
        return None
    if not _made:
        base = Path(tempfile.mkdtemp(prefix="subprocess-coverage-"))
        data_file = Path.cwd() / str(measuring.get_option("run:data_file"))
        (base / "coverage.ini").write_text(settings(data_file), encoding="utf-8")
        startup = base / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-save-coverage.py").write_text(KERNEL_STARTUP, encoding="utf-8")
        _made["base"] = base
    base = _made["base"]
    return {"COVERAGE_PROCESS_START": str(base / "coverage.ini"),
            "IPYTHONDIR": str(base / "ipython")}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Measure the processes a test starts (its module's fixtures made for it included), unless
    it is marked `unmeasured`."""
    wanted = _measuring()
    if wanted is None:
        yield
        return
    if item.get_closest_marker("unmeasured") is not None:
        del wanted["COVERAGE_PROCESS_START"]
    saved = {name: os.environ.get(name) for name in ("COVERAGE_PROCESS_START", "IPYTHONDIR")}
    os.environ.pop("COVERAGE_PROCESS_START", None)
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_sessionfinish() -> None:
    if "base" in _made:
        shutil.rmtree(_made.pop("base"), ignore_errors=True)
