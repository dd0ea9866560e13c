"""Run every benchmark in one go, side by side, and write bench/results.json.

    python3 bootstrap.py bench                  # the eight figures, then a table
    python3 bootstrap.py bench --quick          # a tiny configuration (seconds, not minutes)
    python3 bootstrap.py bench --update-docs    # also rewrite the table in docs/speed.md

Figures are ratios where they can be: absolute times on a shared machine are noisy, the ratio
of two things measured in the same minute much less so. Exit 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.common import Figure, machine  # noqa: E402

README_START = "<!-- bench:table -->"
README_END = "<!-- /bench:table -->"


def plan(quick: bool) -> list[tuple[str, Callable[[], Figure]]]:
    from bench import archive, archive_s3, runner, serve, serve_attack, triage

    repeats = 1 if quick else 3
    return [
        ("triage_parallel_vs_serial",
         lambda: triage.triage_parallel_vs_serial(repeats=repeats)),
        ("hang_bound", lambda: triage.hang_bound(repeats=repeats)),
        ("index_speedup", lambda: archive.index_speedup(count=500 if quick else 10_000,
                                                        repeats=repeats, cli=not quick)),
        ("postmortem_200", lambda: archive.postmortem_200(runs=10 if quick else 200)),
        ("runner_overhead", lambda: runner.runner_overhead(repeats=repeats)),
        ("peak_rss_mb", runner.peak_rss_mb),
        ("alert_to_slack_s", lambda: serve.alert_to_slack_s(repeats=1 if quick else 5)),
        ("alert_storm", lambda: serve.alert_storm(alerts=40 if quick else 200,
                                                  over_seconds=2.0 if quick else 10.0)),
        ("serve_under_attack", lambda: serve_attack.serve_under_attack(
            **({"duration": 15.0, "alone_repeats": 1, "slow": 40, "chunked": 4, "chunked_mib": 8,
                "presses": 100, "deliveries": 100} if quick else {}))),
        ("archive_s3_overhead", lambda: archive_s3.archive_s3_overhead(repeats=repeats)),
        ("index_s3_10k", lambda: archive_s3.index_s3_10k(count=500 if quick else 10_000,
                                                         repeats=repeats)),
    ]


def value_text(figure: Figure) -> str:
    if figure.unit == "ratio":
        return f"{figure.value:.2f}"
    if figure.unit == "×":
        return f"{figure.value:.0f}×"
    return f"{figure.value:.{2 if figure.unit == 's' else 0}f} {figure.unit}"


def table(figures: list[Figure], extras: dict[str, Any]) -> str:
    lines = ["| figure | measured | goal | met | what bounds it |", "|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| `{f.name}` | {value_text(f)} | {f.goal} | "
                     f"{'yes' if f.met else '**no**'} | {f.bound} |")
    cold = extras.get("kernel_cold_start")
    if cold:
        lines.append(f"| kernel cold start | {cold['median_ms']:.0f} ms | — | — | A python3 "
                     "kernel started and answering kernel_info: most of a run's fixed cost. |")
    return "\n".join(lines)


def update_readme(text: str, path: Path) -> None:
    readme = path.read_text(encoding="utf-8")
    if README_START not in readme or README_END not in readme:
        raise SystemExit(f"{path} has no {README_START} … {README_END} markers")
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{text}\n{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration")
    parser.add_argument("--only", action="append", default=[], help="one figure (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--update-docs", "--update-readme", dest="update_docs",
                        action="store_true",
                        help="rewrite the table between the bench markers in docs/speed.md")
    args = parser.parse_args(argv)

    # Nothing the bench runs may touch a responder's archive or config.
    os.environ.pop("RUNBOOK_CONFIG", None)
    os.environ["RUNBOOK_RUNS_DIR"] = tempfile.mkdtemp(prefix="bench-stray-runs-")
    started = time.perf_counter()
    about = machine()
    figures: list[Figure] = []
    results: dict[str, Any] = {}
    for name, measure in plan(args.quick):
        if args.only and name not in args.only:
            continue
        print(f"… {name}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            figure = measure()
        except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
            traceback.print_exc()
            figure = Figure(name, float("nan"), "", "—", False,
                            detail={"error": f"{type(exc).__name__}: {exc}"})
        figure.detail["bench_seconds"] = round(time.perf_counter() - began, 1)
        figures.append(figure)
        results[name] = figure.as_json()
        print(f"  {name}: {value_text(figure)} (goal {figure.goal}, "
              f"{'met' if figure.met else 'MISSED'})", file=sys.stderr, flush=True)
    extras: dict[str, Any] = {}
    if not args.only or "kernel_cold_start" in args.only:
        from bench.runner import kernel_cold_start

        print("… kernel_cold_start", file=sys.stderr, flush=True)
        extras["kernel_cold_start"] = kernel_cold_start(repeats=1 if args.quick else 3)
        if "runner_overhead" in results:
            results["runner_overhead"]["detail"]["kernel_cold_start_ms"] = \
                extras["kernel_cold_start"]["median_ms"]
    total = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "figures": results, **extras, "machine": about, "quick": args.quick,
        "seconds": total, "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    text = table(figures, extras)
    print(text)
    print(f"\n{len(figures)} figures in {total:.0f} s on {about['cpus']} CPUs "
          f"(load {about['load_average_1m_at_start']}); written to {out}")
    if args.update_docs and not args.quick:
        update_readme(text, ROOT / "docs" / "speed.md")
    return 0 if figures and all(f.met for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
