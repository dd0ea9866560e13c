"""Mutation testing of the code that decides safety: would the tests notice a wrong rule?

    python3 bootstrap.py mutate                  # every target in TARGETS, then the score
    python3 bootstrap.py mutate fold redaction   # only the targets whose module names these
    python3 bootstrap.py mutate --list           # the targets and the tests that judge each
    python3 bootstrap.py mutate --survivors fold # only the last run's survivors, tests anew

mutmut changes one thing at a time in a target (a `<` into `<=`, a constant, a dropped call)
and runs the fast unit tests mapped to it; a mutant the tests still pass ("survived") is a rule
that could be wrong without anyone noticing. Each target runs in its own folder under
.mutate/ (a fresh copy of lib/ laid out as mutmut expects), with only its own tests, so a full
run stays well under an hour on two cores. Not part of CI: it takes too long for that.

Exit 1 when fewer than GOAL of all mutants are killed (or mutmut fails); a target below it is
marked. The survivors' diffs are written to .mutate/<target>/survivors.txt, and the figures to
.mutate/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutate"
GOAL = 0.90


@dataclass(frozen=True)
class Target:
    module: str                      # the file to mutate, under lib/
    tests: tuple[str, ...]           # the fast unit tests that exercise it (files or node ids)
    functions: tuple[str, ...] = ()  # only these functions (none named: the whole module)

    @property
    def name(self) -> str:
        return self.module.removeprefix("runbook/").removesuffix(".py").replace("/", ".")

    @property
    def dotted(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")


# What is mutated, and the tests that judge it: the one place to retarget when a rule moves.
TARGETS: tuple[Target, ...] = (
    Target("runbook/incident/fold.py",
           ("tests/test_fold_mutants.py", "tests/test_incident_log.py",
            "tests/test_oncall_fold.py", "tests/test_incident_clock.py", "tests/test_verdict.py",
            "tests/test_incident_serve.py", "tests/test_digest.py")),
    # Severity, next sections and contacts, read from the catalogue of codes.
    Target("runbook/incident/rules.py",
           ("tests/test_rules_mutants.py", "tests/test_codes_catalogue.py",
            "tests/test_findings_severity.py", "tests/test_next_and_probe.py")),
    Target("runbook/incident/contacts.py",
           ("tests/test_rules_mutants.py", "tests/test_comms.py")),
    Target("runbook/core/findings.py",
           ("tests/test_rules_mutants.py", "tests/test_findings_severity.py")),
    Target("runbook/core/redaction.py",
           ("tests/test_redaction_mutants.py", "tests/test_secrets.py", "tests/test_dburl.py",
            *(f"tests/test_echo_leaks.py::{name}" for name in (
                "test_the_parts_of_every_url_shaped_secret_are_registered",
                "test_a_plain_platform_value_is_not_a_secret",
                "test_redaction_never_rewrites_the_records_own_fields",
                "test_a_secret_under_a_structural_key_of_another_shape_is_still_redacted")))),
    # The once-only guard: the lock, the claim of each attempt and the ledger it reads.
    Target("runbook/sections/kit/actions.py",
           ("tests/test_guard_mutants.py", "tests/test_actions.py",
            *(f"tests/test_unknown_outcomes.py::{name}" for name in (
                "test_a_dry_run_says_an_attempt_is_unknown",
                "test_not_sent_is_a_failure_and_can_be_retried"))),
           functions=("ledger", "_lines", "attempts", "unresolved", "succeeded_before",
                      "held", "_without_archive", "run", "_guarded", "_decide", "_folded",
                      "_unresolved", "_succeeded", "_matching")),
)

# mutmut's exit codes, as its own `results` names them; killed and timeout count as caught.
STATUS = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 37: "caught by type check", None: "not checked"}
CAUGHT = {"killed", "timeout", "caught by type check"}


def _setup_cfg(target: Target, tests: list[str]) -> str:
    def listed(values: list[str]) -> str:
        return "".join(f"\n    {v}" for v in values)
    return ("[mutmut]\n"
            "source_paths = src\n"
            f"only_mutate = src/{target.module}\n"
            f"pytest_add_cli_args_test_selection ={listed(tests)}\n"
            f"pytest_add_cli_args ={listed(['-p', 'no:cacheprovider'])}\n"
            # the catalogue's tests check that each section a code sends to is a notebook
            f"also_copy ={listed(['notebooks'])}\n"
            "use_git_change_detection = false\n")


def _prepare(target: Target, fresh: bool = True) -> Path:
    """A folder for one target: lib/ as src/, the tests, the config. Fresh, or (to retry the
    survivors) the one of the last run with the tests copied anew. mutmut names a module after
    its path less a `src.` prefix, and puts mutants/src first on sys.path: with lib/ linked in
    as src/, the tests import the mutated `runbook`, not the installed one."""
    work = WORK / target.name
    if fresh:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        (work / "src").symlink_to(ROOT / "lib", target_is_directory=True)
        (work / "notebooks").symlink_to(ROOT / "notebooks", target_is_directory=True)
    else:
        shutil.rmtree(work / "tests")
    shutil.copytree(ROOT / "tests", work / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    tests = [t for t in target.tests if (ROOT / t.partition("::")[0]).is_file()]
    (work / "setup.cfg").write_text(_setup_cfg(target, tests))
    return work


def _score(work: Path, target: Target) -> dict[str, int]:
    meta = work / "mutants" / "src" / (target.module + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    counts: Counter[str] = Counter()
    for key, code in codes.items():
        if _selected(target, key):
            counts[STATUS.get(code, "suspicious")] += 1
    return dict(counts)


def _selected(target: Target, key: str) -> bool:
    """Whether mutant `key` (module.x_function__mutmut_N) is in the target's functions."""
    if not target.functions:
        return True
    function = key.removeprefix(target.dotted + ".").partition("__mutmut_")[0]
    return function in {f"x_{name}" for name in target.functions}


def _survivors(work: Path, target: Target) -> list[str]:
    """The mutants that were not caught, their diffs written to survivors.txt."""
    meta = work / "mutants" / "src" / (target.module + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    names = sorted(k for k, c in codes.items()
                   if _selected(target, k) and STATUS.get(c, "suspicious") not in CAUGHT)
    with (work / "survivors.txt").open("w") as out:
        subprocess.run([sys.executable, "-c", _SHOW], input="\n".join(names), text=True,
                       cwd=work, stdout=out, stderr=subprocess.STDOUT)
    return names


# One process for every diff (`mutmut show` starts one per mutant).
_SHOW = """
import sys
import mutmut.__main__
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
for name in sys.stdin.read().split():
    print(f"# {name}")
    print(get_diff_for_mutant(name, path=find_mutant(name).path))
"""


@dataclass
class Result:
    target: str
    seconds: int
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return sum(n for status, n in self.counts.items() if status in CAUGHT)


def run_target(target: Target, children: int, mutmut: str, retry: bool = False) -> Result:
    """Every mutant of the target, or (`retry`) only the last run's survivors, again."""
    retry = retry and (WORK / target.name / "survivors.txt").is_file()
    work = _prepare(target, fresh=not retry)
    globs = ([f"{target.dotted}.x_{f}__mutmut_*" for f in target.functions] if not retry else
             [line.split()[1] for line in (work / "survivors.txt").read_text().splitlines()
              if line.startswith("# ")])
    if retry and not globs:
        return Result(target.name, 0, _score(work, target))
    started = time.monotonic()
    with (work / "mutmut.log").open("w") as log:
        code = subprocess.run([mutmut, "run", "--max-children", str(children), *globs],
                              cwd=work, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = round(time.monotonic() - started)
    if code != 0:
        tail = (work / "mutmut.log").read_text(errors="replace")[-3000:]
        return Result(target.name, seconds, error=f"mutmut exited {code}:\n{tail}")
    return Result(target.name, seconds, _score(work, target), _survivors(work, target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only targets whose name contains this")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    parser.add_argument("--survivors", action="store_true",
                        help="test only the last run's survivors again (after adding tests)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2,
                        help="mutants tested at once (default: the number of cores)")
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.only or any(o in t.name for o in args.only)]
    if args.list or not chosen:
        for t in TARGETS:
            only = f" ({', '.join(t.functions)})" if t.functions else ""
            print(f"{t.name}: lib/{t.module}{only}\n    {' '.join(t.tests)}")
        return 0 if chosen else 2
    mutmut = str(Path(sys.executable).parent / "mutmut")
    results: list[Result] = []
    for target in chosen:
        print(f"{target.name}: mutating lib/{target.module} …", flush=True)
        result = run_target(target, args.children, mutmut, retry=args.survivors)
        results.append(result)
        print(f"  {result.error}" if result.error else
              f"  {result.killed}/{result.total} killed in {result.seconds} s {result.counts}",
              flush=True)
    (WORK / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"\n{'target':<32}{'killed':>8}{'total':>7}{'score':>8}{'seconds':>9}")
    for r in results:
        score = f"{r.killed / r.total:.1%}" if r.total else "-"
        below = r.total and r.killed < GOAL * r.total
        print(f"{r.target:<32}{r.killed:>8}{r.total:>7}{score:>8}{r.seconds:>9}"
              + ("  error" if r.error else "  below the goal" if below else ""))
    killed, total = sum(r.killed for r in results), sum(r.total for r in results)
    seconds = sum(r.seconds for r in results)
    print(f"{'all':<32}{killed:>8}{total:>7}{killed / max(total, 1):>8.1%}{seconds:>9}")
    print(f"the survivors' diffs: {WORK}/<target>/survivors.txt")
    return 0 if killed >= GOAL * total and not any(r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
