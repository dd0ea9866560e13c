"""The DATABASE_URL button sets only the value it showed: a URL rotated again after the plan
"Set DATABASE_URL a → b" is refused at the press, and the new value is offered as a new plan.
Run as serve runs a press: the db_refused notebook headless, in its own process, against the
drill's real Postgres and fake Railway."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from runbook.archive import record as records
from runbook.clients.transport import Timeouts
from runbook.core.config import load_config
from runbook.core.redaction import fingerprint
from runbook.drill.scenarios.db import APP_DATABASE, APP_ROLE, DatabaseHandles, password_rotated
from runbook.drill.target import simulated_target
from runbook.host.serve.child import ChildResult, run_child
from runbook.host.serve.dispatch import child_environment
from runbook.host.serve.incidents import IncidentBook
from runbook.host.serve.plans import Plan, variable_plans
from runbook.host.serve.presses import REFUSED, judge

INCIDENT = "inc-db-press"
TIMEOUTS = Timeouts(2.0, 5.0)


def rotate_again(handles: DatabaseHandles) -> str:
    password = "drill-" + secrets.token_urlsafe(16)
    handles.postgres.set_password(APP_ROLE, password)
    url = handles.postgres.url(APP_ROLE, password, APP_DATABASE)
    handles.railway.postgres.variables.update({"DATABASE_URL": url, "DATABASE_PUBLIC_URL": url,
                                               "PGPASSWORD": password})
    return url


@pytest.mark.slow
def test_a_url_rotated_after_the_plan_is_refused_and_offered_anew(runs_dir: Path) -> None:
    with simulated_target(runs_dir) as target:
        password_rotated(target)
        config_path = target.write_config()
        with target.environment():
            config = load_config(str(config_path))
            env = child_environment(config)

            def run(parameters: list[tuple[str, str]]) -> ChildResult:
                done = run_child("db_refused", INCIDENT, config_path, 300, env,
                                 lambda process: None, parameters)
                assert done.record_path is not None, done.output
                return done

            diagnosed = run([])
            assert diagnosed.record_path is not None
            record = records.read_record(Path(diagnosed.record_path))
            [plan] = [p for p in variable_plans(config, TIMEOUTS, INCIDENT, record)
                      if p.kind == "database_url"]
            handles: DatabaseHandles = target.extras["database"]
            shown = fingerprint(handles.service_url)
            assert f"→ {shown}" in plan.label

            rotated = rotate_again(handles)
            pressed = run([*Plan.from_event(INCIDENT, plan.to_event()).parameters.items(),
                           ("confirm", "true"), ("actor", "U0DEALIXOPS")])
            fake = handles.railway.fake
            assert fake.mutation_count("variableUpsert") == 0, "another value was set"
            assert handles.railway.dealix.variables["DATABASE_URL"] == handles.app_url
            judged = judge(plan, pressed, IncidentBook(records.Archive(runs_dir)))
            assert judged.outcome == REFUSED, judged.summary
            assert "a new plan is needed" in judged.summary
            assert f"fingerprint {fingerprint(rotated)}" in judged.summary
            assert shown in judged.summary

            from runbook.host.serve.plans import replanned

            assert judged.record_path is not None
            fresh = replanned(config, TIMEOUTS, plan, records.read_record(Path(judged.record_path)))
            assert fresh is not None and f"→ {fingerprint(rotated)}" in fresh.label
            assert fresh.parameters == {"expected_fingerprint": fingerprint(rotated)}
            for text in (plan.label, fresh.label, fresh.description, judged.summary):
                assert rotated not in text and handles.service_url not in text
