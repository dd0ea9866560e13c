"""The archive as it grows: `runbook runs` over 10,000 records from the index, against opening
every record.json; and a postmortem of an incident of 200 sealed runs.

Records are written in the archive's real layout (see runbook.record). The 10,000 are written
directly (no fsync) so that making them takes seconds; the 200 of the postmortem go through
`Archive.seal`, so their hash chain and index lines are the real ones.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat

from bench.common import BIN, Figure, at_least, below, median, ms, timed
from runbook.archive.layout import NOTEBOOK
from runbook.archive.record import Archive, RunRow, index_summary, list_runs
from runbook.core import clock

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
NOTEBOOKS = ("sev1_response", "db_refused", "webhook_401", "rollback", "error_spike")
RUNS_PER_INCIDENT = 20


def finding(code: str, status: str, summary: str, **evidence: Any) -> dict[str, Any]:
    return {"code": code, "status": status, "summary": summary, "evidence": evidence,
            "fix": "Railway → service → Deployments: roll back" if status == "fail" else ""}


def record_for(incident: str, notebook: str, started: datetime, index: int) -> dict[str, Any]:
    """A record the size of a SEV-1 response's (six findings with their evidence)."""
    failing = index % 3 == 0
    return {
        "incident_id": incident, "notebook": notebook,
        "status": "completed" if index % 17 else "failed",
        "started_at": clock.iso(started),
        "finished_at": clock.iso(started + timedelta(seconds=40)),
        "parameters": {"incident_id": incident, "config_path": ""},
        "severity": "SEV-1" if failing else None,
        "findings": [
            finding("health.down" if failing else "health.ok", "fail" if failing else "pass",
                    "healthz answered 502", url="https://api.dealix.sa/healthz",
                    http_status=502 if failing else 200, seconds=0.214),
            finding("deploy.ok", "pass", "the latest deployment is SUCCESS",
                    deployment="d-" + "0" * 30, commit="4f1c2aa"),
            finding("deploy.recent", "pass", "last deploy 12 minutes ago"),
            finding("uptime.up", "pass", "UptimeRobot: Dealix API /healthz is up",
                    monitor_id=778899, monitor="Dealix API /healthz"),
            finding("db.ok", "pass", "Postgres accepted a connection", host="postgres.railway",
                    port="5432", dbname="railway"),
            finding("moyasar.ok", "pass", "Moyasar's API answered 200 in 180 ms", seconds=0.18),
        ],
        "actions": [], "mode": "headless", "runbook_version": "0" * 40,
        "notebook_sha256": "0" * 64, "previous_record_sha256": None,
    }


def synthesize_archive(root: Path, count: int) -> Archive:
    """`count` finished runs: a run directory with record.json each, and the index's two
    lines per run (started, finished), as the runner writes them."""
    archive = Archive(root)
    root.mkdir(parents=True, exist_ok=True)
    host, pid = socket.gethostname(), 1 << 22   # a pid that no longer runs
    lines: list[str] = []
    for index in range(count):
        incident = f"inc-20260301-{index // RUNS_PER_INCIDENT:05d}"
        notebook = NOTEBOOKS[index % len(NOTEBOOKS)]
        started = T0 + timedelta(seconds=30 * index)
        run_dir = root / incident / f"{clock.stamp(started)}-{notebook}"
        run_dir.mkdir(parents=True, exist_ok=True)
        record = record_for(incident, notebook, started, index)
        (run_dir / "record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        run = f"{incident}/{run_dir.name}"
        lines.append(json.dumps({"event": "started", "run": run, "incident_id": incident,
                                 "notebook": notebook, "started_at": record["started_at"],
                                 "pid": pid, "host": host}, separators=(",", ":")))
        lines.append(json.dumps({"event": "finished", "run": run, **index_summary(record)},
                                separators=(",", ":")))
    archive.index_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return archive


def list_by_reading_records(archive: Archive) -> list[RunRow]:
    """The listing without the index: open and parse every record.json (the cheapest way; no
    shape checks), and build the same rows."""
    rows = []
    for path in archive.root.glob("*/*/record.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        summary = index_summary(record)
        run = f"{path.parent.parent.name}/{path.parent.name}"
        rows.append(RunRow(run, str(summary["incident_id"]),
                           str(summary["notebook"]), str(summary["status"]),
                           summary["severity"], str(summary["started_at"]),
                           str(summary["first_failure"])))
    return sorted(rows, key=lambda r: (r.started_at, r.run))


def _cli(args: list[str], cwd: Path, runs: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    done = subprocess.run([str(BIN / "runbook"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**env, "RUNBOOK_RUNS_DIR": str(runs)})
    if done.returncode != 0:
        raise RuntimeError(f"runbook {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def index_speedup(count: int = 10_000, repeats: int = 3, cli: bool = True) -> Figure:
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        made, archive = timed(lambda: synthesize_archive(Path(tmp) / "runs", count))
        # The first listing folds the whole index and leaves the snapshot; later ones read the
        # snapshot and only the lines appended since (here none, as after a quiet hour).
        first, _ = timed(lambda: list_runs(archive))
        indexed, scanned = [], []
        for _ in range(repeats):
            seconds, rows = timed(lambda: list_runs(archive))
            indexed.append(seconds)
            seconds, read_rows = timed(lambda: list_by_reading_records(archive))
            scanned.append(seconds)
        if len(rows) != count or len(read_rows) != count:
            raise RuntimeError(f"listed {len(rows)} from the index and {len(read_rows)} from "
                               f"the records, not {count}")
        command = [timed(lambda: _cli(["runs"], Path(tmp), archive.root))[0]
                   for _ in range(repeats if cli else 0)]
    fast, slow = median(indexed), median(scanned)
    cli_ms = ms(median(command)) if command else None
    under = fast < 1.0 and (cli_ms is None or cli_ms < 1000)
    figure = at_least(
        "index_speedup", slow / fast, 20, "×",
        bound=("Loading the index snapshot (one read, one unmarshal) and building a row per "
               "run; the first listing of an archive folds all of index.jsonl (one JSON parse) "
               "and writes the snapshot. The command adds Python's start and its imports."),
        detail={"records": count, "list_runs_ms": ms(fast), "read_every_record_ms": ms(slow),
                "first_listing_ms": ms(first), "first_listing_speedup": round(slow / first, 1),
                "runbook_runs_cli_ms": cli_ms, "under_1s": under, "repeats": repeats,
                "synthesize_s": round(made, 2)})
    figure.goal = "≥ 20× and < 1 s"
    figure.met = figure.met and under
    return figure


def notebook_text(index: int) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('incident_id = ""')
    params.metadata["tags"] = ["parameters"]
    report = nbformat.v4.new_code_cell("rb.report(report.confirm, title='Confirm')")
    report.outputs = [nbformat.v4.new_output(
        "execute_result", data={"text/plain": f"✗ fail    health.down   healthz answered 502 "
                                              f"(run {index})"}, execution_count=2)]
    nb.cells = [nbformat.v4.new_markdown_cell("# SEV-1 response"), params, report]
    return nbformat.writes(nb)


def synthesize_incident(archive: Archive, incident: str, runs: int) -> None:
    """`runs` sealed runs of one incident, each with its events and a small notebook."""
    archive.open_incident(incident, T0)
    for index in range(runs):
        notebook = NOTEBOOKS[index % len(NOTEBOOKS)]
        started = T0 + timedelta(minutes=2 * index)
        record = record_for(incident, notebook, started, index)
        run = archive.start_run(incident, notebook, started,
                                {k: record[k] for k in ("incident_id", "notebook", "started_at")})
        for offset, item in enumerate(record["findings"]):
            archive.append_event(run, {
                "type": "finding", "at": clock.iso(started + timedelta(seconds=offset + 1)),
                "finding": item})
        archive.store.replace(run.key(NOTEBOOK), notebook_text(index).encode("utf-8"))
        archive.seal(run, record)


def postmortem_200(runs: int = 200) -> Figure:
    """`runbook postmortem INCIDENT --out DIR`, as a responder runs it, from a cold start of
    the command; a second run (pages already rendered) is reported beside it."""
    incident = "inc-20260301-0900-be9c"
    with tempfile.TemporaryDirectory(prefix="bench-postmortem-") as tmp:
        archive = Archive(Path(tmp) / "runs")
        made, _ = timed(lambda: synthesize_incident(archive, incident, runs))
        out = Path(tmp) / "postmortems"
        first, done = timed(lambda: _cli(["postmortem", incident, "--out", str(out)],
                                         Path(tmp), archive.root))
        again, _ = timed(lambda: _cli(["postmortem", incident, "--out", str(out)],
                                      Path(tmp), archive.root))
        pages = len(list(out.glob("*-evidence/*.html")))
        if pages != runs:
            raise RuntimeError(f"the postmortem rendered {pages} pages, not {runs}: "
                               f"{done.stdout[-1000:]}")
    return below(
        "postmortem_200", first, 3, "s",
        bound=("Fixed costs: Python's start, importing matplotlib and drawing the chart (a few "
               "artists whatever the number of runs); then per run, reading its record and "
               "events and writing its evidence page (about a millisecond of HTML each)."),
        detail={"runs": runs, "first_s": round(first, 3), "refresh_s": round(again, 3),
                "synthesize_s": round(made, 2), "pages": pages})
