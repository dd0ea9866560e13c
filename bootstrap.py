#!/usr/bin/env python3
"""Set up `.venv` from requirements.txt when needed, then run a command inside it.

    python3 bootstrap.py drill outage     # any `runbook …` command
    python3 bootstrap.py test             # ruff, mypy, then the whole pytest suite
    python3 bootstrap.py bench            # the benchmarks, writing bench/results.json
    python3 bootstrap.py mutate           # mutation testing of the safety rules (tools/mutate.py)

Needs only Python 3.11+. The install is redone when requirements.txt or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
    subprocess.run([*pip, "install", "-r", "requirements.txt"], check=True, cwd=ROOT)
    STAMP.write_text(wanted + "\n")


def run(argv: list[str]) -> int:
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    if not argv:
        argv = ["--help"]
    if argv[0] == "test":
        steps = [
            [str(BIN / "ruff"), "check", "lib", "tests", "bench", "tools", "bootstrap.py"],
            [str(BIN / "mypy")],
            [str(BIN / "pytest"), *argv[1:]],
        ]
        for step in steps:
            print("$ " + " ".join(Path(step[0]).name if i == 0 else a
                                  for i, a in enumerate(step)), file=sys.stderr, flush=True)
            code = subprocess.run(step, cwd=ROOT, env=env).returncode
            if code != 0:
                return code
        return 0
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
