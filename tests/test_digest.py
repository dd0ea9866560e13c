"""`runbook digest [--post]`: every open incident for a handoff, from the fold of each log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conftest import run_cli
from runbook.archive import record as records
from runbook.core import clock
from runbook.drill.fakes.server import LoopbackServer
from runbook.drill.fakes.slack import FakeSlack
from runbook.incident.log import IncidentLog, open_incident


def _incidents(runs: Path) -> None:
    archive = records.Archive(runs)
    now = clock.now()
    for incident_id, severity in (("inc-held", "SEV-1"), ("inc-closed", "SEV-2")):
        open_incident(archive, incident_id, opened_at=now - timedelta(minutes=20),
                      opened_by="alert uptimerobot", service="dealix")
        log = IncidentLog(archive, incident_id)
        log.append("run.sealed", {"run": "r1", "notebook": "sev1_response",
                                  "status": "completed", "severity": severity},
                   at=now - timedelta(minutes=19))
    log = IncidentLog(archive, "inc-held")
    log.append("milestone.set", {"milestone": "acknowledged", "responder": "Sami"},
               at=now - timedelta(minutes=18), actor="U0DEALIXSAMI")
    IncidentLog(archive, "inc-closed").append("milestone.set", {"milestone": "resolved"},
                                              actor="nora")


def test_digest_prints_each_open_incident(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _incidents(runs)
    done = run_cli("digest", "--archive", str(runs), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 open incident" in done.stdout
    assert "SEV-1 · inc-held · open · dealix" in done.stdout
    assert "acknowledged by U0DEALIXSAMI" in done.stdout and "inc-closed" not in done.stdout
    assert "done: nothing yet" in done.stdout and "Riyadh" in done.stdout


def test_digest_posts_to_slack(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _incidents(runs)
    slack = FakeSlack()
    with LoopbackServer(slack) as server:
        config = tmp_path / "runbook.toml"
        config.write_text('[service]\nname = "dealix"\nbase_url = "https://api.example"\n'
                          '[slack]\nwebhook_url_env = "TEST_DIGEST_HOOK"\n'
                          f'[archive]\nruns_dir = "{runs}"\n')
        done = run_cli("digest", "--post", "--config", str(config), cwd=tmp_path,
                       env={"TEST_DIGEST_HOOK": server.url + slack.path})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "posted to #dealix-alerts" in done.stdout
    assert len(slack.state.posted) == 1 and "inc-held" in slack.state.posted[0].payload["text"]


def test_digest_bad_input_exits_2(tmp_path: Path) -> None:
    bad = run_cli("digest", "--since", "soon", "--archive", str(tmp_path / "runs"),
                  cwd=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr
    unposted = run_cli("digest", "--post", "--archive", str(tmp_path / "runs"), cwd=tmp_path,
                       env={"RUNBOOK_CONFIG": ""})
    assert unposted.returncode == 2 and "--post needs a config" in unposted.stderr
