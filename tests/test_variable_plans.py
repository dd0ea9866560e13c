"""The variable-fix buttons name the variable and the fingerprints of its values, never a
value: from the dry run the db_refused or webhook_401 run recorded."""

from __future__ import annotations

from pathlib import Path

from runbook.clients.transport import Timeouts
from runbook.core.config import parse_config
from runbook.host.serve.plans import variable_plans

SECRET_URL = "postgresql://app:Pw-3Kq8Zx1Lm5Vt@postgres.railway.internal:5432/railway"


def record(notebook: str, target: str, details: dict[str, str]) -> dict[str, object]:
    return {"notebook": notebook, "actions": [
        {"name": "railway.variable_upsert", "status": "dry_run", "target": target,
         "details": details}]}


def test_database_url_and_webhook_buttons_show_fingerprints_only() -> None:
    config = parse_config({"service": {"name": "dealix", "base_url": "http://127.0.0.1:9"}},
                          Path("runbook.toml"))
    db = variable_plans(config, Timeouts(1.0, 1.0), "inc-1", record(
        "db_refused", "DATABASE_URL on dealix",
        {"source": "DATABASE_URL", "url": "postgresql://app:***@postgres.railway.internal",
         "fingerprint_before": "1a2b3c4d", "fingerprint_after": "5e6f7a8b"}))
    webhook = variable_plans(config, Timeouts(1.0, 1.0), "inc-1", record(
        "webhook_401", "MOYASAR_WEBHOOK_SECRET on dealix",
        {"fingerprint_before": "0f0f0f0f", "fingerprint_after": "a0a0a0a0"}))
    assert [p.kind for p in db] == ["database_url"]
    assert "1a2b3c4d → 5e6f7a8b" in db[0].label and "DATABASE_URL" in db[0].label
    assert [p.kind for p in webhook] == ["webhook_secret"]
    assert "0f0f0f0f → a0a0a0a0" in webhook[0].label
    for plan in db + webhook:
        assert SECRET_URL not in plan.label + plan.description


def test_serve_plans_the_variable_fix_a_verdict_sends_the_responder_to() -> None:
    from runbook.host.serve.dispatch import follow_ups

    record = {"next": [{"notebook": "db_refused", "because": ["health.degraded"]},
                       {"notebook": "comms", "because": ["health.degraded"]},
                       {"notebook": "webhook_401", "because": ["webhook.secret_mismatch"]}]}
    assert follow_ups(record, buttons=True) == ["db_refused", "webhook_401"]
    assert follow_ups(record, buttons=False) == []     # no Slack app: no button to offer
    assert follow_ups({"next": [{"notebook": "rollback", "because": []}]}, True) == []
    assert follow_ups(None, True) == []
