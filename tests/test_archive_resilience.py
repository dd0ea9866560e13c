"""One bad part of the archive never stops the rest: a stray folder is skipped and named, and
a bucket lost for a while is retried, everything kept meanwhile uploaded once it answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from runbook.archive import chained
from runbook.archive.lines import json_lines
from runbook.archive.location import open_archive
from runbook.archive.record import Archive
from runbook.archive.staged import StagedStore
from runbook.core import clock
from runbook.host.serve.incidents import IncidentBook
from runbook.incident.log import IncidentLog
from s3_fixtures import Bucket, bucket
from serve_fixtures import client, serving_process, wait_for

__all__ = ["bucket"]

FIXTURE = ROOT / "tests" / "fixtures" / "archive_fa17daa" / "runs"
GOOD = "inc-fa17daa-outage"
COPY = f"{GOOD} copy"


def archive_with_a_copied_folder(runs: Path) -> Path:
    """The fixture archive, and one incident's folder copied by a file manager."""
    shutil.copytree(FIXTURE, runs)
    shutil.copytree(runs / GOOD, runs / COPY)
    return runs


def test_verify_skips_a_misnamed_folder_names_it_and_exits_3(runs_dir: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    verified = run_cli("verify")
    assert verified.returncode == 3, verified.stdout + verified.stderr
    assert "Traceback" not in verified.stderr
    assert f"{GOOD}: intact" in verified.stdout
    assert "inc-20261204-1726-27ca: intact" in verified.stdout
    assert f"{COPY}: NOT verified" in verified.stdout
    assert f"skipped {runs_dir / COPY}" in verified.stderr


def test_runs_and_due_go_on_past_a_misnamed_folder(runs_dir: Path, tmp_path: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    listed = run_cli("runs")
    assert listed.returncode == 0 and GOOD in listed.stdout, listed.stderr
    due = run_cli("due", "--out", str(tmp_path / "postmortems"), "--now",
                  "2026-12-05T09:00:00Z")
    assert due.returncode == 0, due.stdout + due.stderr
    assert "inc-20261204-1726-27ca" in due.stdout
    assert COPY not in due.stdout and f"'{COPY}'" in due.stderr


def test_serve_starts_past_a_misnamed_folder(runs_dir: Path, tmp_path: Path) -> None:
    archive_with_a_copied_folder(runs_dir)
    with serving_process(tmp_path) as (serve, _), client() as http:
        assert wait_for(lambda: f"'{COPY}'" in serve.text(), timeout=30), serve.text()
        assert http.get(f"{serve.url}/healthz").status_code in (200, 503), serve.text()
        assert serve.process.poll() is None


# ---------------------------------------------------------------- a lost bucket comes back

def staged_archive(bucket: Bucket) -> tuple[Archive, StagedStore]:
    archive = open_archive(url=bucket.url)
    store = archive.store
    assert isinstance(store, StagedStore)
    return archive, store


def bucket_lines(bucket: Bucket, key: str) -> list[dict[str, object]]:
    data = bucket.objects().get(f"team/{key}")
    return json_lines(data) if data is not None else []


KINDS = {"alert": "alert.received", "recovered": "signal.recovered"}


def append_incident_event(archive: Archive, incident: str, event: dict[str, str]) -> None:
    """An alert or a recovery, appended to the incident's log as serve appends it."""
    IncidentLog(archive, incident).append(KINDS[event["event"]], {
        "signal": f"uptimerobot:{event['service']}", "service": event["service"]})


def log_events(bucket: Bucket, incident: str) -> list[str]:
    """The kinds of the incident's log in the bucket, named as the test names them; the log
    must still be one valid chain there."""
    data = bucket.objects().get(f"team/{incident}/log.jsonl", b"")
    lines, problems = chained.read(data)
    assert problems == [], problems
    short = {kind: name for name, kind in KINDS.items()}
    return [short[str(line["kind"])] for line in lines]


def test_a_lost_bucket_is_retried_and_what_was_staged_goes_up(bucket: Bucket) -> None:
    archive, store = staged_archive(bucket)
    store.retry_first, store.retry_max = 0.1, 0.5
    store.keep_uploading()
    archive.open_incident("inc-before", clock.now())
    append_incident_event(archive, "inc-before", {"event": "alert", "service": "api"})

    bucket.stop()
    append_incident_event(archive, "inc-before", {"event": "recovered", "service": "api"})
    assert store.offline
    archive.open_incident("inc-during", clock.now())
    append_incident_event(archive, "inc-during", {"event": "alert", "service": "web"})
    assert store.staging_depth() == 3     # two events files and one header wait

    bucket.restart()
    assert wait_for(lambda: not store.offline and store.staging_depth() == 0, timeout=30)
    assert log_events(bucket, "inc-before") == \
        ["alert", "recovered"]
    assert log_events(bucket, "inc-during") == \
        ["alert"]
    assert "team/inc-during/incident.json" in bucket.objects()
    # Online again: the next event goes straight to the bucket.
    append_incident_event(archive, "inc-during", {"event": "recovered", "service": "web"})
    assert log_events(bucket, "inc-during") == \
        ["alert", "recovered"]
    assert store.staging_depth() == 0


@pytest.mark.slow
def test_sync_uploads_the_incident_files_kept_locally(bucket: Bucket) -> None:
    archive, store = staged_archive(bucket)
    bucket.stop()
    archive.open_incident("inc-offline", clock.now())
    append_incident_event(archive, "inc-offline", {"event": "alert", "service": "api"})
    assert store.offline and store.staging_depth() == 2
    bucket.restart()

    synced = run_cli("sync", "--archive", bucket.url)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "2 incident file(s) uploaded" in synced.stdout, synced.stdout
    assert log_events(bucket, "inc-offline") == \
        ["alert"]
    again = run_cli("sync", "--archive", bucket.url)
    assert again.returncode == 0 and "incident file" not in again.stdout, again.stdout
    assert len(log_events(bucket, "inc-offline")) == 1
    assert store.staging_depth() == 0


def test_serve_sees_the_bucket_is_unreachable_while_it_is(bucket: Bucket) -> None:
    archive, store = staged_archive(bucket)
    book = IncidentBook(archive)
    assert book.reachable()
    bucket.stop()
    archive.open_incident("inc-unseen", clock.now())    # kept locally: the store is offline
    assert store.offline
    assert not book.reachable()
    # What /healthz reports of the archive: how much waits for the bucket, and why.
    staging = book.staging()
    assert staging["staging_depth"] >= 1 and staging["offline"]
    bucket.restart()
    assert book.reachable()
