"""notebooks/webhook_401.ipynb: generated, thin and clean; the two drills diagnose their fault,
list the payments to reconcile, and leave no secret value in runs/ or on the terminal; a
confirmed run fixes the secret."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, all_bytes_under
from runbook.core.config import load_config
from runbook.drill.scenarios import webhook as webhook_scenarios
from runbook.drill.scenarios.webhook import webhook_rejecting
from runbook.drill.target import simulated_target
from runbook.host import cli
from runbook.host.runner import run_notebook
from runbook.sections.webhook_401 import RAILWAY_VARIABLE
from webhook_fixtures import APP_COPY, DASHBOARD_COPY

NOTEBOOK = ROOT / "notebooks" / "webhook_401.ipynb"
RUNBOOK_FIX = ("Railway → Variables → `MOYASAR_WEBHOOK_SECRET`",
               "Moyasar Dashboard → Webhooks → same secret", "Must be identical string")


def forms(secret: str) -> list[bytes]:
    """The secret as bytes, plainly and in base64 (with and without padding)."""
    raw = secret.encode()
    encoded = base64.b64encode(raw)
    return [raw, encoded, encoded.rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]


def assert_absent(secrets: list[str], saved: bytes, output: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in saved, f"a secret ({form[:6]!r}…) is saved under runs/"
        assert secret.strip() not in output


def test_notebook_is_generated_thin_and_clean(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    subprocess.run([sys.executable, "-m", "tools.make_webhook_401"], cwd=tmp_path, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert (tmp_path / "notebooks" / "webhook_401.ipynb").read_bytes() == NOTEBOOK.read_bytes()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert next(c for c in code if "parameters" in c.metadata.get("tags", [])) is code[0]
    fix_steps = [c.source for c in nb.cells if c.cell_type == "markdown"
                 and all(line in c.source for line in RUNBOOK_FIX)]
    assert len(fix_steps) == 3  # compare, prove live, fix
    # Thin: library calls and their display; no branch, loop or handler in a cell.
    words = {w for c in code[1:] for w in c.source.replace("(", " ").split()}
    assert not words & {"if", "for", "while", "try:", "except", "def", "lambda"}


@pytest.mark.parametrize(("scenario", "code", "values"), [
    ("webhook-401", "webhook.secret_mismatch", (APP_COPY, DASHBOARD_COPY)),
    ("webhook-401-whitespace", "webhook.secret_whitespace", (DASHBOARD_COPY + "\n",
                                                             DASHBOARD_COPY)),
])
@pytest.mark.slow
def test_drill_diagnoses_and_keeps_the_secrets_out(
        scenario: str, code: str, values: tuple[str, str], runs_dir: Path,
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    chosen = iter(values if scenario == "webhook-401" else values[1:])
    monkeypatch.setattr(webhook_scenarios, "drill_secret", lambda: next(chosen))
    exit_code = cli.main(["drill", scenario])
    out, err = capfd.readouterr()
    assert exit_code == 0, out + err
    assert f"verdict: PASS: the diagnosis names the injected fault ({scenario})" in out
    (record_path,) = runs_dir.glob("drills/*/*/record.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed"
    findings = {f["code"]: f for f in record["findings"]}
    assert findings[code]["status"] == "fail"
    payments = findings["webhook.deliveries"]["evidence"]["payments"]
    assert len(payments) >= 1
    assert all({"id", "amount", "status", "time"} <= set(p) for p in payments)
    (action,) = record["actions"]
    assert (action["name"], action["dry_run"], action["target"]) == (
        "railway.variable_upsert", True, RAILWAY_VARIABLE)
    notebook = (record_path.parent / "notebook.ipynb").read_text()
    assert "Payments to reconcile" in notebook and payments[0]["id"] in notebook
    assert_absent(list(values), all_bytes_under(runs_dir), out + err)


@pytest.mark.slow
def test_confirmed_run_fixes_the_secret(runs_dir: Path) -> None:
    with simulated_target(runs_dir) as target:
        webhook_rejecting(target, APP_COPY, DASHBOARD_COPY)
        config_path = target.write_config()
        with target.environment():
            result = run_notebook("webhook_401", [("confirm", "True"), ("wait_seconds", "10")],
                                  load_config(config_path), mode="drill")
        assert target.extras["railway"].dealix.variables[RAILWAY_VARIABLE] == DASHBOARD_COPY
        assert target.app.state.webhook_secret == DASHBOARD_COPY
    assert result.status == "completed", result.error
    (action,) = result.record["actions"]
    assert action["dry_run"] is False and action["status"] == "succeeded"
    assert any(f.code == "webhook.ok" and f.status == "pass" for f in result.findings)
    assert_absent([APP_COPY, DASHBOARD_COPY], all_bytes_under(runs_dir), "")
