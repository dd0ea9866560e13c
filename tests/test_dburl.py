"""Parsing DATABASE_URL: both schemes, keyword/value strings, sslmode, the wrong part named,
and the password never shown."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runbook.clients import dburl
from runbook.core.errors import BadInput, DbUrlError
from runbook.core.redaction import fingerprint, registry

PASSWORD = "S3cret-Pa55word"


@pytest.mark.parametrize("value", [
    f"postgresql://app:{PASSWORD}@db.example.com:6543/dealix",
    f"postgres://app:{PASSWORD}@db.example.com:6543/dealix",
    f"host=db.example.com port=6543 dbname=dealix user=app password={PASSWORD}",
    f"host=db.example.com port=6543 dbname=dealix user=app password='{PASSWORD}'",
])
def test_both_schemes_and_keyword_form(value: str) -> None:
    url = dburl.parse(value)
    assert (url.host, url.port, url.dbname, url.user, url.password) == (
        "db.example.com", 6543, "dealix", "app", PASSWORD)
    assert url.sslmode == "prefer"
    assert url.form == ("url" if "://" in value else "keyword")


def test_defaults_and_percent_encoding() -> None:
    url = dburl.parse("postgresql://app:p%40ss%2Fw0rd@db.example.com/dealix")
    assert url.port == 5432 and url.password == "p@ss/w0rd"
    assert dburl.parse("postgresql://app:pw12@h").dbname == "app"  # libpq: db named as user


@pytest.mark.parametrize("mode", dburl.SSLMODES)
def test_sslmode(mode: str) -> None:
    url = dburl.parse(f"postgresql://app:pw12@h/db?sslmode={mode}")
    assert url.sslmode == mode
    assert url.ssl_required == (mode in ("require", "verify-ca", "verify-full"))


def test_other_options_kept_for_the_connection() -> None:
    url = dburl.parse("postgresql://app:pw12@h/db?application_name=dealix&sslmode=require")
    assert url.options == {"application_name": "dealix"}
    assert "application_name=dealix" in url.conninfo()


def test_ipv6_host() -> None:
    url = dburl.parse("postgresql://app:pw12@[::1]:5433/db")
    assert (url.host, url.port) == ("::1", 5433)
    assert "[::1]:5433" in url.display()


@pytest.mark.parametrize(("value", "part"), [
    ("", "value"),
    ("   ", "value"),
    (f"postgresql://app:{PASSWORD}@h/db\n", "whitespace"),
    (f"mysql://app:{PASSWORD}@h/db", "scheme"),
    (f"postgresq://app:{PASSWORD}@h/db", "scheme"),
    (f"postgresql://app:{PASSWORD}@/db", "host"),
    (f"postgresql://app:{PASSWORD}@h:54x2/db", "port"),
    (f"postgresql://app:{PASSWORD}@h:99999/db", "port"),
    ("postgresql://app:pa@ss@h/db", "password"),
    ("postgresql://app:pa/ss@h/db", "password"),
    ("postgresql://app:pa%zzss@h/db", "password"),
    (f"postgresql://app:{PASSWORD}@h/db?sslmode=yes", "sslmode"),
    (f"postgresql://app:{PASSWORD}@h/db?sslmod=require", "query parameter 'sslmod'"),
    (f"postgresql://:{PASSWORD}@h/db", "user"),
    (f"host=h user=app password={PASSWORD} dbname", "syntax"),
    (f"host=h user=app password='{PASSWORD}", "quoting"),
    (f"host=h user=app password={PASSWORD} sslmode=on", "sslmode"),
    (f"user=app password={PASSWORD} dbname=d", "host"),
    (f"host=h user=app password={PASSWORD} colour=blue", "option"),
])
def test_malformed_names_the_part(value: str, part: str) -> None:
    with pytest.raises(DbUrlError) as caught:
        dburl.parse(value, "DATABASE_URL")
    assert caught.value.part == part
    message = str(caught.value)
    assert message.startswith("DATABASE_URL is not a valid Postgres connection string")
    assert PASSWORD not in message
    assert isinstance(caught.value, BadInput)


def test_error_names_the_source() -> None:
    with pytest.raises(DbUrlError, match=r"^APP_DB_URL is not"):
        dburl.parse("mysql://h/db", "APP_DB_URL")


def test_redacted_forms_hold_no_password() -> None:
    url = dburl.parse(f"postgresql://app:{PASSWORD}@db.example.com:6543/dealix?sslmode=require")
    shown = [url.display(), str(url), repr(url), str(url.redacted())]
    assert not any(PASSWORD in text for text in shown)
    assert url.redacted() == {"host": "db.example.com", "port": 6543, "dbname": "dealix",
                              "user": "app", "sslmode": "require",
                              "password": f"sha256:{fingerprint(PASSWORD)} (15 chars)"}
    assert fingerprint(PASSWORD) in url.display()


def test_no_password() -> None:
    url = dburl.parse("postgresql://app@h/db")
    assert url.password is None and url.redacted()["password"] == "none"
    assert "password" not in url.conninfo()


def test_parse_registers_the_password_even_for_a_bad_url() -> None:
    with pytest.raises(DbUrlError):
        dburl.parse(f"postgresql://app:{PASSWORD}@h:bad/db", "MY_URL")
    assert registry().redact(f"x {PASSWORD} y") == "x [redacted:MY_URL] y"
    dburl.parse(f"host=h user=app password='{PASSWORD}2'", "KW_URL")
    encoded = base64.b64encode(f"{PASSWORD}2".encode()).decode().rstrip("=")
    assert registry().redact(encoded) == "[redacted:KW_URL]"


def test_differences_compare_passwords_without_showing_them() -> None:
    a = dburl.parse(f"postgresql://app:{PASSWORD}@h/db")
    b = dburl.parse("postgresql://app:other-pass@h2/db")
    assert a.differences(b) == ["host", "password"]
    assert a.differences(a) == []


def test_conninfo_round_trips_through_libpq() -> None:
    url = dburl.parse("postgresql://app:p%40ss%20w@h:6000/d%20b?sslmode=disable")
    again = dburl.parse(url.conninfo())
    assert again.differences(url) == [] and again.password == "p@ss w"


_password = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=6,
                    max_size=24)


@settings(max_examples=150, deadline=None)
@given(password=_password, port=st.text("0123456789x:", max_size=6))
def test_no_error_ever_quotes_the_password(password: str, port: str) -> None:
    registry().clear()
    value = f"postgresql://app:{password}@host:{port}/db"
    try:
        url = dburl.parse(value)
    except DbUrlError as exc:
        assert password not in str(exc) or password in "DATABASE_URL is not a valid Postgres"
    else:
        assert password not in url.display()


@pytest.mark.parametrize("value", ["postgres://db:¹", "host=db port=²", "postgres://db:٣"])
def test_a_port_of_digits_that_are_not_ascii_is_refused(value: str) -> None:
    """'¹' is a digit to str.isdigit but not to int(): a clear refusal, not a ValueError."""
    with pytest.raises(DbUrlError) as refused:
        dburl.parse(value)
    assert refused.value.part == "port"
