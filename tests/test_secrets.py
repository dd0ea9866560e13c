from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# The quick pass over a saved notebook's JSON (`may_hold_secret`) must never say "no secret"
# where the walk through its strings would redact one.
_ALPHABET = 'ab0"\\/\n\té:@%+=-_'


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(_ALPHABET, min_size=6, max_size=30),
       before=st.text(_ALPHABET + "xyz ", max_size=20), after=st.text(_ALPHABET, max_size=20),
       cut=st.integers(0, 30), as_key=st.booleans())
def test_the_quick_pass_over_json_misses_no_secret(secret: str, before: str, after: str,
                                                  cut: int, as_key: bool) -> None:
    secrets = SecretRegistry()
    secrets.register("S", secret)
    held = before + secret[cut:] + after
    data = {held: 1} if as_key else {"cells": [{"text": [held]}]}
    if secrets.redact_obj(data) == data:
        return  # nothing to redact: either answer is right
    for text in (json.dumps(data), json.dumps(data, ensure_ascii=False),
                 json.dumps(data, indent=1, ensure_ascii=False)):
        assert secrets.may_hold_secret(text), (secret, held, text)


def test_a_url_secret_is_not_suspected_from_its_common_words() -> None:
    secrets = SecretRegistry()
    secrets.register("DATABASE_URL", "postgresql://dealix:s3cretPassw0rd@db.internal:5432/dealix")
    assert not secrets.may_hold_secret("the dealix service: postgresql is up" * 50)
    assert secrets.may_hold_secret("leaked s3cretPassw0rd here")
    assert secrets.redact("service dealix on postgresql") == "service dealix on postgresql"


def test_a_saved_notebook_is_redacted_however_its_json_escapes_the_secret() -> None:
    from runbook.archive.notebook_io import clean_notebook_json
    from runbook.core.redaction import registry

    registry().register("TOKEN", 'tok"en\\with/odd_chars-91xz')
    plain = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": 'got tok"en\\with/odd_chars-91xz'}]}]}
    for text in (json.dumps(plain), json.dumps(plain, indent=1),
                 json.dumps(plain).replace("/", "\\/"),
                 json.dumps(plain).replace("w", "\\u0077")):
        kept = clean_notebook_json(text)
        assert "odd_chars-91xz" not in kept and "[redacted:TOKEN]" in kept, text
    # A duplicated key's first value is gone once decoded, but not from the given bytes.
    duplicated = '{"cells": [], "note": "tok\\"en\\\\with/odd_chars-91xz", "note": "x"}'
    assert "odd_chars-91xz" not in clean_notebook_json(duplicated)


def test_a_saved_notebook_without_secrets_is_kept_as_nbformat_wrote_it() -> None:
    import nbformat

    from runbook.archive.notebook_io import clean_notebook_json
    from runbook.core.redaction import registry

    registry().register("TOKEN", "a-token-nobody-prints-8812")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')\nx = 1")])
    text = nbformat.writes(nb)
    assert clean_notebook_json(text) == json.dumps(json.loads(text), indent=1,
                                                   ensure_ascii=False) + "\n"
