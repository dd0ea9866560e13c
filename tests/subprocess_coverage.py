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
"""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session", autouse=True)
def subprocess_coverage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Measure the processes the tests start, when this one is measured."""
    import coverage

    measuring = coverage.Coverage.current()
    if measuring is None:
        yield
        return
    data_file = Path.cwd() / str(measuring.get_option("run:data_file"))
    base = tmp_path_factory.mktemp("subprocess-coverage")
    config = base / "coverage.ini"
    config.write_text(settings(data_file), encoding="utf-8")
    startup = base / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-save-coverage.py").write_text(KERNEL_STARTUP, encoding="utf-8")
    saved = {name: os.environ.get(name) for name in ("COVERAGE_PROCESS_START", "IPYTHONDIR")}
    os.environ["COVERAGE_PROCESS_START"] = str(config)
    os.environ["IPYTHONDIR"] = str(base / "ipython")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
