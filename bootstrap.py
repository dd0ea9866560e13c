#!/usr/bin/env python3
"""Set up `.venv` from requirements.txt when needed, then run a command inside it.

    python3 bootstrap.py drill outage     # any `runbook …` command
    python3 bootstrap.py test             # ruff, mypy, the whole pytest suite, coverage of lib/
    python3 bootstrap.py test --fast      # the same without the browser and the slowest drills
    python3 bootstrap.py bench            # the benchmarks, writing bench/results.json
    python3 bootstrap.py mutate           # mutation testing of the safety rules (tools/mutate.py)

`test` runs pytest on four workers (pytest-xdist); any other arguments go to pytest.

Needs only Python 3.11+. The install is redone when requirements.txt or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-sha256"


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - the one check a user with an old Python needs
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    wanted = _wanted_stamp()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV} …", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing requirements.txt (first run only; a few minutes) …", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True, cwd=ROOT)
    # pip compiles what it installs one file after another; compileall does it on every core,
    # in about half the time. Compiled here even where PYTHONDONTWRITEBYTECODE is set: the
    # commands, runs and kernels that would otherwise compile their imports at every start.
    subprocess.run([*pip, "install", "--no-compile", "-r", "requirements.txt"], check=True,
                   cwd=ROOT)
    # As with pip, a file that does not compile (a package's own test data) is left as it is.
    subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", "-j", "0",
                    *_site_packages()], cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    STAMP.write_text(wanted + "\n")


def _site_packages() -> list[str]:
    found = subprocess.run([str(BIN / "python"), "-c",
                            "import site; print('\\n'.join(site.getsitepackages()))"],
                           check=True, capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if Path(line).is_dir()]


def pytest_arguments(args: list[str]) -> tuple[list[str], bool]:
    """pytest's arguments for `test [--fast] [PYTEST ARGS…]`, and whether coverage is measured.

    The whole suite runs on four workers and measures line and branch coverage of lib/ (settings
    in pyproject.toml). `--fast` leaves out the tests marked `slow` (the browser and the
    slowest end-to-end drills) and does not measure: a total over part of the suite would mislead.
    """
    fast = "--fast" in args
    rest = [a for a in args if a != "--fast"]
    # loadscope: a module's tests run on one worker, so a module-scoped fixture (the canary
    # sweep's drills, the postmortem's drilled incident) is made once, not once per worker;
    # modules go out in the order tests/suite_order.py gives (the long ones first). Four
    # workers on two cores: the tests spend much of their time waiting (kernels starting,
    # servers answering, deadlines passing), and two more workers fill that time.
    chosen = ["-n", "4", "--dist", "loadscope", "--no-loadscope-reorder"]
    if fast:
        return [*chosen, "-m", "not slow", *rest], False
    return [*chosen, "--cov", "--cov-report=", *rest], True


def run_tests(args: list[str], env: dict[str, str]) -> int:
    pytest_args, measured = pytest_arguments(args)
    steps = [
        [str(BIN / "ruff"), "check", "lib", "tests", "bench", "tools", "bootstrap.py"],
        [str(BIN / "mypy")],
        # The suite starts hundreds of Python processes (commands, runs, kernels): compiled
        # once here, even where PYTHONDONTWRITEBYTECODE is set, none of them compiles lib/ again.
        [str(BIN / "python"), "-m", "compileall", "-q", "lib"],
        [str(BIN / "pytest"), *pytest_args],
    ]
    for step in steps:
        print("$ " + " ".join(Path(step[0]).name if i == 0 else a
                              for i, a in enumerate(step)), file=sys.stderr, flush=True)
        code = subprocess.run(step, cwd=ROOT, env=env).returncode
        if code != 0:
            return code
    if measured:
        print_coverage(env)
    return 0


SHOWN_MODULES = 15


def print_coverage(env: dict[str, str]) -> None:
    """The least covered modules of lib/ and the total (no threshold fails the run yet; the
    goal is 90%). The whole table: .venv/bin/coverage report"""
    report = subprocess.run([str(BIN / "coverage"), "report", "--sort=cover", "--skip-covered"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    lines = report.stdout.splitlines()
    rows = [line for line in lines[2:] if line.startswith("lib/")]
    total = next((line for line in lines if line.startswith("TOTAL")), "")
    print("\ncoverage of lib/ (lines and branches), least covered first:")
    print("\n".join([*lines[:2], *rows[:SHOWN_MODULES]]))
    if len(rows) > SHOWN_MODULES:
        print(f"… {len(rows) - SHOWN_MODULES} more modules below 100% "
              "(.venv/bin/coverage report shows them all)")
    print(total or report.stdout + report.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        summary = Path(scratch) / "coverage.json"
        made = subprocess.run([str(BIN / "coverage"), "json", "-q", "-o", str(summary)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if made.returncode == 0:
            totals = json.loads(summary.read_text())["totals"]
            lines_pct = 100 * totals["covered_lines"] / max(totals["num_statements"], 1)
            branches_pct = 100 * totals["covered_branches"] / max(totals["num_branches"], 1)
            print(f"coverage of lib/: {totals['percent_covered']:.1f}% "
                  f"(lines {lines_pct:.1f}%, branches {branches_pct:.1f}%; the goal is 90%)")


def run(argv: list[str]) -> int:
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    if not argv:
        argv = ["--help"]
    if argv[0] == "test":
        return run_tests(argv[1:], env)
    if argv[0] == "bench":
        return subprocess.run([str(BIN / "python"), str(ROOT / "bench" / "run.py"), *argv[1:]],
                              env=env).returncode
    if argv[0] == "mutate":  # not part of `test` nor of CI: it takes tens of minutes
        return subprocess.run([str(BIN / "python"), str(ROOT / "tools" / "mutate.py"),
                               *argv[1:]], env=env, cwd=ROOT).returncode
    return subprocess.run([str(BIN / "runbook"), *argv], env=env).returncode


if __name__ == "__main__":
    ensure_venv()
    sys.exit(run(sys.argv[1:]))
