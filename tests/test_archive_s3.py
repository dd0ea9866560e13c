"""The archive on S3-compatible storage, against moto's server on loopback: records every
responder shares, and guards that hold across machines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import run_cli
from nbfactory import write_config, write_notebook
from runbook.archive import layout
from runbook.archive.location import open_archive
from runbook.archive.record import list_runs
from runbook.archive.s3 import S3Store
from runbook.archive.staged import StagedStore
from runbook.archive.store import LockHeld
from runbook.archive.verify import verify_incident
from runbook.core.config import load_config
from runbook.host.runner import run_notebook
from s3_fixtures import CANARY_KEY_ID, CANARY_SECRET, CANARY_TOKEN, Bucket, bucket

__all__ = ["bucket"]


def python(code: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, cwd=cwd)


def assert_no_canary(found: dict[str, bytes]) -> None:
    assert found
    for key, data in found.items():
        for canary in (CANARY_KEY_ID, CANARY_SECRET, CANARY_TOKEN):
            assert canary.encode() not in data, f"{canary[:10]}… in {key}"


@pytest.mark.slow
def test_drill_leaves_its_record_in_the_bucket(bucket: Bucket, tmp_path: Path) -> None:
    drill = run_cli("drill", "outage", "--archive", bucket.url, timeout=180)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert f"record: {bucket.url}/" in drill.stdout
    incident = drill.stdout.rsplit("incident: ", 1)[1].strip()
    keys = bucket.objects()
    assert f"team/drills/{incident}/chain.jsonl" in keys      # kept apart from incidents
    assert any(k.endswith("/record.json") for k in keys)

    assert incident not in run_cli("runs", "--archive", bucket.url).stdout
    listed = run_cli("runs", "--drills", "--archive", bucket.url)
    assert listed.returncode == 0 and incident in listed.stdout and "completed" in listed.stdout
    verified = run_cli("verify", "--drills", "--archive", bucket.url)
    assert verified.returncode == 0 and f"{incident}: intact" in verified.stdout
    # Another machine (no staging copy of its own) writes the postmortem from the bucket.
    elsewhere = {"RUNBOOK_RUNS_DIR": str(tmp_path / "elsewhere" / "runs")}
    due = run_cli("due", "--drills", "--archive", bucket.url, env=elsewhere)
    assert due.returncode == 0 and incident in due.stdout, due.stdout + due.stderr
    written = run_cli("postmortem", incident, "--archive", bucket.url, "--out",
                      str(tmp_path / "pm"), env=elsewhere)
    assert written.returncode == 0, written.stderr
    assert incident in "".join(p.read_text() for p in (tmp_path / "pm").glob("*.md"))
    assert_no_canary(bucket.objects())


WRITER = """
    import sys
    from runbook.archive import layout
    from runbook.archive.location import open_archive
    from runbook.incident.seal import seal_run
    from runbook.core import clock

    archive = open_archive(url=sys.argv[1], staged=False)
    for i in range(20):
        now = clock.now()
        archive.open_incident("inc-shared", now, opened_by=sys.argv[2])
        fields = {"incident_id": "inc-shared", "notebook": sys.argv[2],
                  "started_at": clock.iso(now), "parameters": {}, "mode": "headless"}
        run = archive.start_run("inc-shared", sys.argv[2], now, fields)
        archive.append_event(run, {"type": "finding", "finding": {
            "code": "health.ok", "status": "pass", "summary": f"{sys.argv[2]} {i}"}})
        archive.store.replace(run.key(layout.NOTEBOOK), b'{"cells": []}')
        seal_run(archive, run, fields, status="completed")
    print("done")
"""


@pytest.mark.slow
def test_two_processes_twenty_runs_each_make_one_valid_chain(bucket: Bucket) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), bucket.url,
                                 f"writer{n}"], text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for n in (1, 2)]
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
    archive = open_archive(url=bucket.url, staged=False)
    chain = archive.chain("inc-shared")
    assert len(chain) == 40
    assert len({entry["run"] for entry in chain}) == 40
    assert verify_incident(archive, "inc-shared") == []
    rows = list_runs(archive, "inc-shared")
    assert len(rows) == 40 and {row.status for row in rows} == {"completed"}


RESPONDER = """
    import json, sys, time
    from runbook.sections.kit import actions, session
    from runbook.sections import rollback

    rb = session.start("rollback", incident_id="inc-race", config_path=sys.argv[1])
    policy = rollback.WaitPolicy(bound=20, first_interval=0.05, max_interval=0.2,
                                 health_attempts=3, health_interval=0.2, progress=False)
    action = rollback.rollback_action(rb, policy=policy)
    while time.time() < float(sys.argv[2]):
        time.sleep(0.005)
    try:
        result = actions.run(rb, action, confirm=True)
        print(json.dumps({"status": result.status, "summary": result.summary}))
    except actions.ActionRefused as exc:
        print(json.dumps({"status": "refused", "summary": str(exc)}))
"""


@pytest.mark.slow
def test_two_machines_confirm_one_rollback_and_one_mutation_is_made(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.drill.scenarios.mitigate import bad_deploy
    from runbook.drill.target import simulated_target

    with simulated_target(tmp_path / "unused", probe_timeout=1.0) as target:
        handles = bad_deploy(target, step=0.3)
        config = target.write_config()
        go = time.time() + 6
        responders = []
        for machine in ("laptop-a", "laptop-b"):
            home = tmp_path / machine
            home.mkdir()
            responders.append(python(RESPONDER.replace("sys.argv[1]", repr(str(config)))
                                     .replace("sys.argv[2]", repr(str(go))),
                                     env={**target.env, "RUNBOOK_ARCHIVE": bucket.url,
                                          "RUNBOOK_RUNS_DIR": str(home / "runs")}, cwd=home))
        outcomes = []
        for responder in responders:
            out, err = responder.communicate(timeout=120)
            assert responder.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        assert handles.fake.mutation_names() == ["deploymentRollback"]
    statuses = sorted(o["status"] for o in outcomes)
    assert statuses in (["refused", "succeeded"], ["already_done", "succeeded"]), outcomes
    other = next(o for o in outcomes if o["status"] != "succeeded")
    # Told who did it, and when.
    assert "@" in other["summary"] and ("since" in other["summary"]
                                        or "already done at" in other["summary"])
    assert (tmp_path / "laptop-a" / "runs").is_dir() and (tmp_path / "laptop-b" / "runs").is_dir()


HOLDER = """
    import sys, time
    from runbook.archive.s3 import S3Store
    store = S3Store(sys.argv[1], lease_seconds=1.5)
    with store.lock("inc-lease/.lock", {"holder": "crashing@laptop", "since": "then"}):
        print("held", flush=True)
        time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_holders_lease_is_taken_over_after_it_expires(bucket: Bucket) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), bucket.url],
                              text=True, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    store = S3Store(bucket.url, lease_seconds=1.5)
    with pytest.raises(LockHeld) as refused, \
            store.lock("inc-lease/.lock", {"holder": "me"}, wait=False):
        pass
    assert refused.value.holder["holder"] == "crashing@laptop"
    assert refused.value.holder["since"] == "then"
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    time.sleep(2.0)
    with store.lock("inc-lease/.lock", {"holder": "me"}, wait=False) as info:
        assert info.get("took_over_from") == "crashing@laptop"
    released = json.loads(bucket.client().get_object(  # type: ignore[attr-defined]
        Bucket=bucket.name, Key="team/inc-lease/.lock")["Body"].read())
    assert released["released"] is True   # released by a write, never deleted


@pytest.mark.slow
def test_a_bucket_lost_mid_run_completes_locally_then_syncs(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RUNBOOK_ARCHIVE", bucket.url)
    nb = write_notebook(tmp_path, "probe",
                        "from runbook.sections.kit import session\n"
                        "from runbook.core.findings import passed\n"
                        "rb = session.start('probe')\n"
                        "rb.report(passed('health.ok', 'fine'))")
    config = load_config(write_config(tmp_path))
    result = run_notebook(str(nb), [], config, incident_id="inc-lost",
                          on_started=lambda run_dir: bucket.stop())
    assert result.status == "completed", result.error
    assert result.archive is not None and isinstance(result.archive.store, StagedStore)
    assert result.archive.store.offline
    local_record = Path(result.where(layout.RECORD))
    assert local_record.is_file() and str(tmp_path) in str(local_record)
    assert json.loads(local_record.read_text())["findings"][0]["code"] == "health.ok"

    bucket.restart()
    synced = run_cli("sync", "--archive", bucket.url)
    assert synced.returncode == 0, synced.stderr
    assert "1 run(s) uploaded" in synced.stdout
    again = run_cli("sync", "--archive", bucket.url)
    assert again.returncode == 0 and "0 run(s) uploaded" in again.stdout
    verified = run_cli("verify", "--archive", bucket.url)
    assert verified.returncode == 0 and "inc-lost: intact" in verified.stdout, verified.stdout
    archive = open_archive(url=bucket.url, staged=False)
    assert len(archive.chain("inc-lost")) == 1
    rows = list_runs(archive, "inc-lost")
    assert [row.status for row in rows] == ["completed"]
    assert_no_canary(bucket.objects())


@pytest.mark.slow
def test_reindex_rebuilds_the_index_from_the_records(bucket: Bucket) -> None:
    writer = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITER).replace(
        "range(20)", "range(3)"), bucket.url, "writer"], capture_output=True, text=True,
        timeout=120)
    assert writer.returncode == 0, writer.stderr
    store = S3Store(bucket.url)
    store.write_index([])   # the index lost (or never written by an older version)
    empty = run_cli("runs", "--archive", bucket.url)
    assert "no runs under" in empty.stdout
    rebuilt = run_cli("runs", "--archive", bucket.url, "--reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "index rebuilt from 3 run(s)" in rebuilt.stdout
    assert rebuilt.stdout.count("inc-shared") == 3 and "completed" in rebuilt.stdout


def test_an_unreachable_bucket_refuses_a_confirmed_action_unless_overridden(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.core.errors import ActionRefused
    from runbook.sections.kit import actions
    from runbook.sections.kit.session import Session

    monkeypatch.setenv("RUNBOOK_ARCHIVE", bucket.url)
    config = load_config(write_config(tmp_path))
    archive = open_archive(config)
    from runbook.core import clock

    archive.open_incident("inc-down", clock.now())
    run = archive.start_run("inc-down", "probe", clock.now(), {"incident_id": "inc-down"})
    rb = Session(config, "probe", "inc-down", clock.now(), archive.run_dir(run), "headless",
                 archive)
    done: list[str] = []

    def execute(log: actions.StepLog) -> actions.Outcome:
        done.append("x")
        return actions.Outcome(True, "restarted")

    action = actions.Action("railway.restart", "svc", "restart it", execute)
    bucket.stop()
    assert actions.run(rb, action).status == actions.DRY_RUN   # planning still works
    with pytest.raises(ActionRefused, match="cannot be reached"):
        actions.run(rb, action, confirm=True)
    assert done == [] and rb.actions[-1]["status"] == actions.REFUSED
    result = actions.run(rb, action, confirm=True, without_archive=True)
    assert result.status == actions.SUCCEEDED and done == ["x"]
    assert "bypassed" in rb.actions[-1]["details"]["guards"]
    bucket.restart()


def test_a_sessions_findings_reach_the_bucket_while_it_goes_on(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.core.findings import failed
    from runbook.sections.kit import session

    monkeypatch.setenv("RUNBOOK_ARCHIVE", bucket.url)
    rb = session.start("sev1_response", incident_id="inc-live",
                       config_path=str(write_config(tmp_path)))
    rb.report(failed("health.down", "healthz answered 502", "roll back"))
    key = f"team/{rb.run.key(layout.EVENTS)}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if b"health.down" in bucket.objects().get(key, b""):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the finding did not reach the bucket within 5 s")
    listed = run_cli("runs", "--archive", bucket.url, "--incident", "inc-live",
                     env={"RUNBOOK_RUNS_DIR": str(tmp_path / "teammate")})
    assert "inc-live" in listed.stdout and "running" in listed.stdout


def test_the_index_folds_into_its_snapshot_and_lists_the_same(bucket: Bucket) -> None:
    store = S3Store(bucket.url)
    lines = [{"event": "started", "run": f"inc-fold/r{i:02d}", "incident_id": "inc-fold",
              "notebook": "probe", "started_at": f"2026-11-29T10:{i:02d}:00Z"}
             for i in range(12)]
    for line in lines[:8]:
        store.append(layout.INDEX, line)
    assert store.fold_index(min_entries=1, grace=0) == 8
    for line in lines[8:]:
        store.append(layout.INDEX, line)
    assert store.fold_index(min_entries=100, grace=0) == 0    # too few to be worth a fold
    archive = open_archive(url=bucket.url, staged=False)
    assert [row.run for row in list_runs(archive)] == [line["run"] for line in lines]
    assert store.fold_index(min_entries=1, grace=0) == 4
    folded = bucket.objects()["team/.index/folded.jsonl"]
    assert folded.count(b"\n") == 12
    assert [row.run for row in list_runs(archive)] == [line["run"] for line in lines]


@pytest.mark.slow
def test_a_jupyterlab_session_is_archived_into_the_bucket(
        bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.sections.kit import interactive
    from test_archive import INCIDENT, saved_notebook, session_with_work

    monkeypatch.setenv("RUNBOOK_ARCHIVE", bucket.url)
    monkeypatch.setenv("TEST_SLACK_WEBHOOK_URL", "sk-archive-5c1d9e7f3a2b4c6d")
    session_with_work(tmp_path)
    notebook = saved_notebook(tmp_path, "the probe said 502\n")
    config = load_config(next(tmp_path.glob("runbook-*.toml")))
    archived = interactive.archive_notebook(notebook, INCIDENT, config)
    assert archived.reused_session
    keys = bucket.objects()
    record = json.loads(next(v for k, v in keys.items() if k.endswith("/record.json")))
    assert [f["code"] for f in record["findings"]] == ["health.down", "uptime.up"]
    assert verify_incident(open_archive(url=bucket.url, staged=False), INCIDENT) == []
    assert all(b"sk-archive-5c1d9e7f3a2b4c6d" not in data for data in keys.values())
