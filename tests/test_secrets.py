from __future__ import annotations

import base64

import pytest

from runbook.core.redaction import SecretRegistry, fingerprint

CANARY = "canary-7f3a9c2e-token"


def test_redacts_the_value_and_its_disguises() -> None:
    secrets = SecretRegistry()
    secrets.register("RAILWAY_TOKEN", CANARY)
    for disguise in (CANARY, base64.b64encode(CANARY.encode()).decode(),
                     base64.b64encode((CANARY + ":").encode()).decode(),
                     CANARY.replace("-", "%2D")):
        text = f"before {disguise} after"
        redacted = secrets.redact(text)
        assert CANARY not in redacted
        assert "before" in redacted and "after" in redacted
    assert secrets.redact(CANARY) == "[redacted:RAILWAY_TOKEN]"


def test_url_passwords_count_as_secrets() -> None:
    secrets = SecretRegistry()
    url = "postgresql://postgres:s3cr%40t-pass@db.internal:5432/railway"
    secrets.register("DATABASE_URL", url)
    error = 'connection to "db.internal" failed: password s3cr@t-pass, s3cr%40t-pass'
    assert "s3cr" not in secrets.redact(error)
    keyword = SecretRegistry()
    keyword.register("DATABASE_URL", "host=db user=u password=kw-secret-9 dbname=x")
    assert "kw-secret-9" not in keyword.redact("password=kw-secret-9")


def test_whitespace_variants_are_redacted() -> None:
    secrets = SecretRegistry()
    secrets.register("MOYASAR_WEBHOOK_SECRET", "whsec-abcdef\n")
    assert "whsec-abcdef" not in secrets.redact("token was 'whsec-abcdef'")


def test_redact_obj_walks_nested_data() -> None:
    secrets = SecretRegistry()
    secrets.register("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/XyZ123456")
    data = {"a": ["x https://hooks.slack.com/services/T0/B0/XyZ123456 y", 3],
            "b": {"c": "XyZ123456"}}
    out = secrets.redact_obj(data)
    assert "hooks.slack.com/services/T0" not in str(out)
    assert out["a"][1] == 3


def test_short_values_are_not_registered() -> None:
    secrets = SecretRegistry()
    secrets.register("X", "ab")
    assert secrets.redact("ab ab") == "ab ab"
    assert secrets.names() == []


@pytest.mark.parametrize("value", ["", None])
def test_unset_values_are_ignored(value: str | None) -> None:
    secrets = SecretRegistry()
    secrets.register("X", value)
    assert secrets.contains_secret("anything") is None


def test_fingerprint_is_8_hex_of_sha256() -> None:
    assert fingerprint("abc") == "ba7816bf"


def test_platform_variables_that_name_things_are_not_secret() -> None:
    from runbook.core.redaction import looks_secret

    assert not looks_secret("PGUSER", "postgres")
    assert not looks_secret("PGDATABASE", "railway")
    assert not looks_secret("RAILWAY_SERVICE_NAME", "dealix-api")
    assert not looks_secret("PORT", "8000")
    assert looks_secret("MOYASAR_WEBHOOK_SECRET", "whsec_1")
    assert looks_secret("DATABASE_URL", "postgresql://u:p@h/d")
    assert looks_secret("SOMETHING_NEW", "opaque-value")
