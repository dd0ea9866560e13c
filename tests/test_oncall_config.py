"""`[oncall]`: responders in paging order, durations as people write them, the team's zone;
each mistake refused at start naming its key."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from runbook.core.config import parse_config, timezone_of
from runbook.core.durations import DurationError, parse_duration, say_duration
from runbook.core.errors import ConfigError

ONE = {"name": "Sara", "slack_id": "U01SARA", "email": "sara@dealix.example"}
TWO = {"name": "Omar", "slack_id": "U02OMAR", "email": "omar@dealix.example"}


def config(oncall: dict[str, object] | None) -> object:
    raw: dict[str, object] = {"service": {"name": "dealix", "base_url": "https://api.example"}}
    if oncall is not None:
        raw["oncall"] = oncall
    return parse_config(raw, Path("/etc/runbook/runbook.toml"))


def test_durations_read_as_written() -> None:
    assert parse_duration("10s") == timedelta(seconds=10)
    assert parse_duration("5m") == timedelta(minutes=5)
    assert parse_duration(" 1.5h ") == timedelta(minutes=90)
    assert parse_duration("90d") == timedelta(days=90)
    for bad in ("", "5", "5 minutes", "0s", "-1m", "m5"):
        with pytest.raises(DurationError, match=r"s, m, h, d or w|not above zero"):
            parse_duration(bad)
    assert [say_duration(timedelta(seconds=s)) for s in (40, 240, 3900, 200000)] == [
        "40s", "4m", "1h 05m", "2d 7h"]


def test_defaults_and_per_sev_timeouts() -> None:
    oncall = config({"responders": [ONE, TWO]}).oncall  # type: ignore[attr-defined]
    assert [r.name for r in oncall.responders] == ["Sara", "Omar"]
    assert oncall.ack_timeout_for("SEV-1") == timedelta(minutes=5)
    assert oncall.ack_timeout_for("SEV-2") == timedelta(minutes=15)
    assert oncall.duration("stabilisation") == timedelta(minutes=2)
    assert str(oncall.zone()) == "Asia/Riyadh"
    one = config({"responders": [ONE], "ack_timeout": "10s"}).oncall  # type: ignore[attr-defined]
    assert one.ack_timeout_for("SEV-1") == one.ack_timeout_for("SEV-2") == timedelta(seconds=10)


def test_the_team_zone_defaults_to_riyadh_without_the_block() -> None:
    assert str(timezone_of(config(None))) == "Asia/Riyadh"  # type: ignore[arg-type]


@pytest.mark.parametrize(("oncall", "named"), [
    ({"responders": []}, "[oncall] responders is empty"),
    ({}, "[oncall] responders is empty"),
    ({"responders": [{"name": "Sara", "email": "s@x.example"}]}, "slack_id"),
    ({"responders": [{**ONE, "slack_id": "sara"}]}, "responders[0] slack_id"),
    ({"responders": [{**ONE, "email": "sara"}]}, "responders[0] email"),
    ({"responders": [ONE], "ack_timeout": "5 minutes"}, "[oncall] ack_timeout"),
    ({"responders": [ONE], "repage_every": "0s"}, "[oncall] repage_every"),
    ({"responders": [ONE], "timezone": "Mars/Olympus"}, "[oncall] timezone"),
    ({"responders": [ONE], "flap_count": 0}, "[oncall] flap_count"),
    ({"responders": "U01SARA"}, "[oncall] responders must be an array"),
])
def test_bad_oncall_is_refused_naming_the_key(oncall: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(oncall)
    assert named in str(caught.value)


def test_relative_paths_are_read_from_the_config_folder(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOK_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    loaded = config(None)
    assert loaded.runs_dir() == Path("/etc/runbook/runs")  # type: ignore[attr-defined]
