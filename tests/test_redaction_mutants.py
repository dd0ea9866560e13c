"""Redaction at its edges: the shortest secret, the shortest fragment, each disguise whole,
a secret inside a longer base64 blob at each alignment, overlapping and adjacent secrets, and
the record's own fields left alone.

Each test is a rule of `runbook.core.redaction` checked where a slightly wrong rule would let
a character through or blank ordinary text out; `python3 bootstrap.py mutate` measures that
they would notice."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from runbook.core.redaction import SecretRegistry, fingerprint, is_plain, looks_secret


@pytest.fixture
def reg() -> Iterator[SecretRegistry]:
    yield SecretRegistry()


def marker(name: str) -> str:
    return f"[redacted:{name}]"


# ---------------------------------------------------------------- what counts as a secret

def test_the_shortest_secret_is_six_characters(reg: SecretRegistry) -> None:
    reg.register("SIX", "k3Y!9z")
    reg.register("FIVE", "q8#Lm")
    reg.register("PADDED", "  q8#Lm  ")
    assert reg.redact("a k3Y!9z b q8#Lm") == f"a {marker('SIX')} b q8#Lm"
    assert reg.names() == ["SIX"]


def test_a_short_secret_is_found_at_any_position(reg: SecretRegistry) -> None:
    reg.register("SIX", "k3Y!9z")
    reg.register("TEN", "Wq7-Lp2#Zx")
    for prefix in ("", "x", "xy", "xyz", "wxyz!", "vwxyz!"):
        assert reg.redact(prefix + "k3Y!9z") == prefix + marker("SIX")
        assert reg.redact(prefix + "Wq7-Lp2#Zx.") == prefix + marker("TEN") + "."


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "abcd", "abcde", "abcdefg"])
def test_a_twelve_character_secret_is_found_at_any_position(reg: SecretRegistry,
                                                             prefix: str) -> None:
    reg.register("TWELVE", "Zq7xK9mWp2Lr")
    assert reg.redact(prefix + "Zq7xK9mWp2Lr") == prefix + marker("TWELVE")
    assert reg.redact(prefix + "Zq7xK9mWp2Lr" + prefix) == prefix + marker("TWELVE") + prefix


def test_twelve_characters_of_a_secret_are_redacted_eleven_are_not(
        reg: SecretRegistry) -> None:
    secret = "Zq7xK9mWp2Lr5tVbN3"
    reg.register("LONG", secret)
    assert reg.redact(f"a {secret[3:15]} b") == f"a {marker('LONG')} b"
    assert reg.redact(f"a {secret[3:14]} b") == f"a {secret[3:14]} b"
    assert reg.redact(f"a {secret[:12]}") == f"a {marker('LONG')}"
    assert reg.redact(f"{secret[-12:]} b") == f"{marker('LONG')} b"


def test_a_plain_value_and_a_platform_name_are_not_secrets() -> None:
    assert is_plain("a" * 20) and not is_plain("a" * 21)
    assert is_plain(" error ") and is_plain("5432") and is_plain("True")
    assert not is_plain("err0r") and not is_plain("")
    assert not looks_secret("NODE_ENV", "prod-eu-1")
    assert not looks_secret("port", "x-9")
    assert not looks_secret("RAILWAY_SERVICE_NAME", "api-7f")
    assert looks_secret("NODE_KEY", "prod-eu-1") and not looks_secret("NODE_KEY", "prod")


def test_the_fingerprint_is_the_sha256_prefix() -> None:
    import hashlib
    assert fingerprint("pässwörd") == hashlib.sha256("pässwörd".encode()).hexdigest()[:8]


# ---------------------------------------------------------------- each disguise, whole

SECRET = "Zk?>8w~/Q+r"      # 11 characters whose encodings hold '+', '/' and '='


@pytest.mark.parametrize("disguise", [
    lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    lambda s: base64.b64encode((s + ":").encode()).decode().rstrip("="),
    lambda s: base64.b64encode((":" + s).encode()).decode().rstrip("="),
    lambda s: s.encode().hex(),
    lambda s: s.encode().hex().upper(),
    lambda s: quote(s, safe=""),
    lambda s: quote(s),
])
def test_each_encoding_is_redacted_whole(reg: SecretRegistry, disguise: object) -> None:
    reg.register("KEY", SECRET)
    shown = disguise(SECRET)  # type: ignore[operator]
    assert reg.redact(f"<{shown}>") == f"<{marker('KEY')}>", shown


@pytest.mark.parametrize("secret", ["k3Y?>9z", "Q+r/8w~", "pässwö", "a?>?~~~"])
def test_short_secrets_encoded_are_redacted_whole(reg: SecretRegistry, secret: str) -> None:
    reg.register("KEY", secret)
    raw = secret.encode()
    for shown in (base64.b64encode(raw).decode().rstrip("="),
                  base64.urlsafe_b64encode(raw).decode().rstrip("="),
                  base64.b64encode(raw + b":").decode().rstrip("="),
                  base64.b64encode(b":" + raw).decode().rstrip("="),
                  raw.hex(), raw.hex().upper(), quote(secret, safe="")):
        assert reg.redact(f"<{shown}>") == f"<{marker('KEY')}>", shown


def test_escaped_forms_are_redacted_whole(reg: SecretRegistry) -> None:
    secret = 'it\'s "ä/b" & <c>\t9'
    reg.register("KEY", secret)
    forms = [json.dumps(secret), json.dumps(secret).replace("/", "\\/"), repr(secret),
             html.escape(secret), html.escape(secret).replace("&#x27;", "&#39;"),
             html.escape(secret, quote=False)]
    for shown in forms:
        assert reg.contains_secret(shown) == "KEY" and secret[-4:] not in reg.redact(shown)
    assert reg.redact(json.dumps(secret)) == f'"{marker("KEY")}"'
    assert reg.redact(repr(secret)) == f"'{marker('KEY')}'"


@pytest.mark.parametrize("secret", ["k'9\"q/x", "k'9&\"q<x"])
def test_each_escape_is_its_own_form(reg: SecretRegistry, secret: str) -> None:
    reg.register("KEY", secret)
    for shown in (json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/"),
                  repr(secret)[1:-1], html.escape(secret),
                  html.escape(secret).replace("&#x27;", "&#39;"),
                  html.escape(secret, quote=False)):
        assert reg.redact(f"<{shown}>") == f"<{marker('KEY')}>", shown


def test_a_quoted_value_is_redacted_without_its_quotes(reg: SecretRegistry) -> None:
    reg.register("KEY", "'Xr8-kw2-Qp'")
    reg.register("OTHER", '"Yt5=Lm3,Zq"')
    assert reg.redact("Xr8-kw2-Qp and Yt5=Lm3,Zq") == f"{marker('KEY')} and {marker('OTHER')}"


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_a_short_secret_inside_a_longer_base64_blob(reg: SecretRegistry, offset: int) -> None:
    secret = "k3Y?>9z"          # 7 bytes: no whole base64 form can appear inside a blob
    reg.register("KEY", secret)
    blob = base64.b64encode(b"\xf7" * offset + secret.encode() + b"\xff\xfe\xfd").decode()
    assert reg.contains_secret(blob) == "KEY", blob
    urlsafe = base64.urlsafe_b64encode(b"\xf7" * offset + secret.encode() + b"\xff").decode()
    assert reg.contains_secret(urlsafe) == "KEY", urlsafe


# ---------------------------------------------------------------- URL-shaped secrets

def test_a_database_urls_password_is_a_secret_on_its_own(reg: SecretRegistry) -> None:
    reg.register("DATABASE_URL", "postgresql://dealix:pw1234@db.internal:5432/dealix")
    assert reg.redact("password pw1234 refused") == f"password {marker('DATABASE_URL')} refused"
    assert reg.redact("user dealix on db.internal") == "user dealix on db.internal"


def test_a_password_holding_an_at_sign_is_whole(reg: SecretRegistry) -> None:
    reg.register("DATABASE_URL", "postgresql://dealix:p@ss-w0rd!x@db.internal/dealix")
    assert reg.redact("was p@ss-w0rd!x") == f"was {marker('DATABASE_URL')}"


def test_a_malformed_urls_password_is_still_found(reg: SecretRegistry) -> None:
    reg.register("DATABASE_URL", "postgresql://dealix:Sec-r3t9@[db/dealix")
    assert reg.redact("saw Sec-r3t9") == f"saw {marker('DATABASE_URL')}"


def test_a_libpq_password_is_found_without_its_quotes(reg: SecretRegistry) -> None:
    reg.register("DSN", "host=db user=dealix password='Xenon-42-Pass'")
    reg.register("DSN2", "host=db password=Kr9-aa-Zz sslmode=require")
    assert reg.redact("got Xenon-42-Pass") == f"got {marker('DSN')}"
    assert reg.redact("got Kr9-aa-Zz") == f"got {marker('DSN2')}"


def test_a_webhook_urls_parts_are_secrets_its_words_are_not(reg: SecretRegistry) -> None:
    url = "https://AKIAuser9:pw-77-xx@hooks.example.com/services/T0AB/Zx81kQ?token=Qm9Lk2&v=1"
    reg.register("WEBHOOK", url)
    for part in ("AKIAuser9", "Zx81kQ", "Qm9Lk2", "pw-77-xx"):
        assert reg.redact(f"({part})") == f"({marker('WEBHOOK')})", part
    text = "see https://hooks.example.com/services/ for services"
    assert reg.redact(text) == text
    assert reg.redact(base64.b64encode(url.encode()).decode().rstrip("=")) == marker("WEBHOOK")
    assert reg.redact(quote(url, safe="")) == marker("WEBHOOK")


# ---------------------------------------------------------------- several secrets at once

def test_two_secrets_in_one_text_each_redacted(reg: SecretRegistry) -> None:
    reg.register("A", "Zq7xK9mWp2Lr5t")
    reg.register("B", "k3Y!9z")
    text = "a Zq7xK9mWp2Lr5t b k3Y!9z c Zq7xK9mWp2Lr5t"
    assert reg.redact(text) == f"a {marker('A')} b {marker('B')} c {marker('A')}"
    assert reg.contains_secret(text) == "A"
    assert reg.contains_secret("b k3Y!9z c Zq7xK9mWp2Lr5t") == "B"
    assert reg.contains_secret("nothing here") is None


def test_adjacent_secrets_are_two_markers(reg: SecretRegistry) -> None:
    reg.register("A", "Zq7xK9mWp2Lr5t")
    reg.register("B", "Wv3nB8cXs1Jd4f")
    assert reg.redact("Zq7xK9mWp2Lr5tWv3nB8cXs1Jd4f") == marker("A") + marker("B")


def test_a_secret_inside_another_leaks_no_part_of_either(reg: SecretRegistry) -> None:
    outer = "Zq7xK9-mWp2Lr5tVbN3-Wv3nB8cXs1"
    reg.register("OUTER", outer)
    reg.register("INNER", outer[7:21])
    assert reg.redact(f"<{outer}>") == f"<{marker('OUTER')}>"


@pytest.mark.parametrize("pad", ["", "x" * 100])
def test_overlapping_secrets_are_named_after_the_longer(reg: SecretRegistry, pad: str) -> None:
    short, long = "1234567890ABCD", "ABCD" + "efghijklmnopqrstuvwxyz"
    reg.register("SHORT", short)
    reg.register("LONG", long)
    assert reg.redact(pad + "1234567890ABCDefghijklmnopqrstuvwxyz") == pad + marker("LONG")
    reg.clear()
    reg.register("LONG", "abcdefghijklmnopqrstuvwxyz1234")
    reg.register("SHORT", "uvwxyz1234ABCD")
    assert reg.redact(pad + "abcdefghijklmnopqrstuvwxyz1234ABCD") == pad + marker("LONG")
    reg.clear()
    reg.register("FIRST", "abcdefghijklmn")
    reg.register("SECOND", "klmnopqrstuvwx")
    assert reg.redact(pad + "abcdefghijklmnopqrstuvwx") == pad + marker("FIRST")


def test_a_short_secret_that_begins_another_does_not_cut_it(reg: SecretRegistry) -> None:
    reg.register("A", "Qx7#pL2")
    reg.register("B", "Qx7#pL2vW9")
    assert reg.redact("<Qx7#pL2vW9>") == f"<{marker('B')}>"
    assert reg.redact("<Qx7#pL2>") == f"<{marker('A')}>"


def test_the_first_name_registered_for_a_value_stays(reg: SecretRegistry) -> None:
    reg.register("FIRST", "Zq7xK9mWp2Lr5t")
    reg.register("SECOND", "Zq7xK9mWp2Lr5t")
    reg.register("FIRST_SHORT", "k3Y!9z")
    reg.register("SECOND_SHORT", "k3Y!9z")
    assert reg.redact("Zq7xK9mWp2Lr5t k3Y!9z") == f"{marker('FIRST')} {marker('FIRST_SHORT')}"
    assert reg.names() == ["FIRST", "FIRST_SHORT"]


def test_a_secret_registered_after_a_redaction_is_redacted_too(reg: SecretRegistry) -> None:
    reg.register("A", "k3Y!9z")
    assert reg.redact("k3Y!9z Wq7-Lp") == f"{marker('A')} Wq7-Lp"
    reg.register("B", "Wq7-Lp")
    assert reg.redact("k3Y!9z Wq7-Lp") == f"{marker('A')} {marker('B')}"


def test_clear_forgets_every_secret_and_source(reg: SecretRegistry) -> None:
    reg.register("A", "k3Y!9z")
    assert reg.first_read_of("railway:api") and not reg.first_read_of("railway:api")
    reg.clear()
    assert reg.redact("k3Y!9z") == "k3Y!9z" and reg.names() == []
    assert reg.contains_secret("k3Y!9z") is None
    assert reg.first_read_of("railway:api")
    reg.register("B", "Wq7-Lp")
    assert reg.redact("k3Y!9z Wq7-Lp") == f"k3Y!9z {marker('B')}"


def test_read_env_registers_what_it_reads(reg: SecretRegistry,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOYASAR_SECRET_KEY", "sk_test_9Zq7x")
    monkeypatch.setenv("EMPTY_KEY", "")
    monkeypatch.delenv("MISSING_KEY", raising=False)
    assert reg.read_env("MOYASAR_SECRET_KEY") == "sk_test_9Zq7x"
    assert reg.read_env("EMPTY_KEY") is None and reg.read_env("MISSING_KEY") is None
    assert reg.names() == ["MOYASAR_SECRET_KEY"]
    assert reg.redact("key sk_test_9Zq7x") == f"key {marker('MOYASAR_SECRET_KEY')}"




def test_nothing_registered_changes_nothing(reg: SecretRegistry) -> None:
    assert reg.redact("k3Y!9z") == "k3Y!9z" and reg.redact("") == ""
    assert reg.contains_secret("k3Y!9z") is None
    assert reg.redact_obj({"a": ["k3Y!9z"]}) == {"a": ["k3Y!9z"]}


# ---------------------------------------------------------------- the record's own fields

def test_the_records_own_fields_keep_their_shape_other_values_are_redacted(
        reg: SecretRegistry) -> None:
    reg.register("LOG", "running")
    reg.register("CODE", "health.down")
    reg.register("TOKEN", "Zq7xK9mWp2Lr5t")
    record = {"status": "running", "code": "health.down", "summary": "running health.down",
              "severity": None, "dry_run": "Zq7xK9mWp2Lr5t", "at": 5, "ok": True}
    assert reg.redact_obj(record) == {
        "status": "running", "code": "health.down",
        "summary": f"{marker('LOG')} {marker('CODE')}", "severity": None,
        "dry_run": marker("TOKEN"), "at": 5, "ok": True}


def test_a_structural_key_with_a_value_of_another_shape_is_redacted(
        reg: SecretRegistry) -> None:
    reg.register("TOKEN", "Zq7xK9mWp2Lr5t")
    reg.register("DOTTED", "svc.Zq7xK9mWp2")
    data = {"status": "Zq7xK9mWp2Lr5t", "code": "Zq7xK9mWp2Lr5t x", "mode": "svc.Zq7xK9mWp2",
            "sha256": "Zq7xK9mWp2Lr5t"}
    assert reg.redact_obj(data) == {"status": marker("TOKEN"), "code": f"{marker('TOKEN')} x",
                                    "mode": marker("DOTTED"), "sha256": marker("TOKEN")}


def test_keys_lists_and_tuples_are_redacted_and_keep_their_type(reg: SecretRegistry) -> None:
    reg.register("TOKEN", "Zq7xK9mWp2Lr5t")
    data = {"Zq7xK9mWp2Lr5t": ("Zq7xK9mWp2Lr5t", 1), 7: ["Zq7xK9mWp2Lr5t", None],
            "n": {"status": "Zq7xK9mWp2Lr5t"}}
    assert reg.redact_obj(data) == {marker("TOKEN"): (marker("TOKEN"), 1),
                                    7: [marker("TOKEN"), None],
                                    "n": {"status": marker("TOKEN")}}
    assert reg.redact_obj("Zq7xK9mWp2Lr5t") == marker("TOKEN")


def test_a_match_stops_at_the_edges_of_the_text_and_of_the_secret(reg: SecretRegistry) -> None:
    secret = "Zq7xK9mWp2Lr5tVb"
    reg.register("KEY", secret)
    assert reg.redact("b" + secret) == "b" + marker("KEY")           # the char before is kept
    assert reg.redact(secret[2:] + " and q") == marker("KEY") + " and q"   # no wrap-around


@pytest.mark.parametrize("ascii_only", [True, False])
def test_a_secret_written_as_json_is_redacted_whole_either_escaping(ascii_only: bool) -> None:
    # non-ASCII letters, a quote and a backslash: each JSON escaping gives another disguise
    secret = 'pä"ss\\wörd-123456'
    registry = SecretRegistry()
    registry.register("X", secret)
    text = json.dumps({"v": secret, "n": 1}, ensure_ascii=ascii_only)
    assert registry.redact(text) == '{"v": "[redacted:X]", "n": 1}'
