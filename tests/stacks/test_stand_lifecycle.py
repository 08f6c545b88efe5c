"""TTL, expiry, names and the reaper's choice: pure functions, no Pulumi."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from opcloud.stand.automation import azure_credentials, stand_config, stand_from_outputs
from opcloud.stand.lifecycle import (
    NAME_MAX,
    Stand,
    default_name,
    expired,
    expiry,
    format_time,
    parse_time,
    parse_ttl,
    stack_name,
    stand_of_stack,
    validate_name,
)

from opcloud.errors import InputError

NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8h", timedelta(hours=8)),
        ("90m", timedelta(minutes=90)),
        ("30m", timedelta(minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 7d ", timedelta(days=7)),
        ("1H30M", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["", "8", "h", "8x", "8 h", "-1h", "1.5h", "8h!", "h8", "8hh"])
def test_bad_ttl_strings_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="bad TTL"):
        parse_ttl(text)


@pytest.mark.parametrize("text", ["29m", "0h", "7d1m", "8d"])
def test_ttl_outside_30m_to_7d_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="out of range"):
        parse_ttl(text)


def test_expiry_is_utc_to_the_second() -> None:
    kyiv = timezone(timedelta(hours=3))
    created = datetime(2026, 5, 4, 13, 0, 0, 999_999, tzinfo=kyiv)
    assert expiry(created, timedelta(hours=8)) == datetime(2026, 5, 4, 18, 0, 0, tzinfo=UTC)
    assert format_time(expiry(created, timedelta(hours=8))) == "2026-05-04T18:00:00Z"
    with pytest.raises(ValueError):
        expiry(datetime(2026, 5, 4), timedelta(hours=1))


def test_expiry_tag_round_trips_and_needs_a_zone() -> None:
    assert parse_time(format_time(NOW)) == NOW
    assert parse_time("2026-05-04T13:00:00+03:00") == datetime(2026, 5, 4, 10, tzinfo=UTC)
    with pytest.raises(InputError, match="no time zone"):
        parse_time("2026-05-04T10:00:00")
    with pytest.raises(InputError, match="bad expiry"):
        parse_time("tomorrow")


def _stand(name: str, minutes: int | None) -> Stand:
    return Stand(name, "qa", None if minutes is None else NOW + timedelta(minutes=minutes))


def test_reaper_takes_what_expired_at_or_before_now_oldest_first() -> None:
    stands = [
        _stand("later", 1),
        _stand("just-now", 0),  # the boundary: expired from its expiry instant on
        _stand("old", -600),
        _stand("recent", -1),
        _stand("unknown", None),
    ]
    assert [s.name for s in expired(stands, NOW)] == ["old", "recent", "just-now"]
    assert expired(stands, NOW - timedelta(days=1)) == []
    assert [s.name for s in expired(stands, NOW + timedelta(days=30))] == ["old", "recent", "just-now", "later"]


def test_an_8h_stand_lives_exactly_8_hours() -> None:
    stand = Stand("s", "qa", expiry(NOW, parse_ttl("8h")))
    assert expired([stand], NOW + timedelta(hours=8) - timedelta(seconds=1)) == []
    assert expired([stand], NOW + timedelta(hours=8)) == [stand]


def test_unreadable_expiry_is_not_reaped() -> None:
    stand = stand_from_outputs("x", {"expiry": "garbage", "owner": "qa"})
    assert stand.expiry is None and expired([stand], NOW) == []
    read = stand_from_outputs("y", {"expiry": "2026-05-04T09:00:00Z", "url": "https://y/", "resourceGroup": "rg"})
    assert expired([read], NOW) == [read]
    assert read.to_json()["stack"] == "test-stand-y"


@pytest.mark.parametrize("name", ["a", "alice", "ci-1234-1", "x" * NAME_MAX, "a1-b2"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "Alice", "1abc", "-a", "a-", "a--b", "a_b", "a.b", "x" * (NAME_MAX + 1)])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InputError, match="stand name"):
        validate_name(name)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", "alice-ab12"),
        ("Jane.Doe@example.com", "jane-doe-exampl-ab12"),
        ("42bot", "bot-ab12"),
        ("___", "stand-ab12"),
        ("a-very-long-user-name-indeed", "a-very-long-use-ab12"),
    ],
)
def test_default_name_is_user_plus_suffix_and_valid(user: str, expected: str) -> None:
    assert default_name(user, "ab12") == expected
    assert len(default_name(user)) <= NAME_MAX
    validate_name(default_name(user))


def test_stack_names() -> None:
    assert stack_name("alice-ab12") == "test-stand-alice-ab12"
    assert stand_of_stack("org/opcloud/test-stand-alice-ab12") == "alice-ab12"
    assert stand_of_stack("test-stand") is None
    assert stand_of_stack("prokuria-eu-prod") is None


def test_stand_config_adds_per_stand_values() -> None:
    config = stand_config(
        {"opcloud:program": "test-stand", "opcloud:owner": "team"},
        stand="s1",
        owner="alice",
        expires=NOW,
        instance="abc",
    )
    assert config["opcloud:owner"] == ("alice", False)
    assert config["opcloud:expiresAt"] == ("2026-05-04T10:00:00Z", False)
    assert config["opcloud:standName"] == ("s1", False)
    assert config["opcloud:program"] == ("test-stand", False)


def test_azure_credentials() -> None:
    def never() -> bool:
        return False

    sp = {"ARM_CLIENT_ID": "c", "ARM_TENANT_ID": "t", "ARM_SUBSCRIPTION_ID": "s"}
    assert azure_credentials({**sp, "ARM_CLIENT_SECRET": "x"}, never) == "service principal"
    assert azure_credentials({**sp, "ARM_USE_OIDC": "true"}, never) == "service principal"
    assert azure_credentials({"ARM_USE_MSI": "true"}, never) == "managed identity"
    assert azure_credentials({}, lambda: True) == "az login"
    with pytest.raises(InputError, match="no Azure credentials"):
        azure_credentials({}, never)
    with pytest.raises(InputError, match="ARM_CLIENT_SECRET"):
        azure_credentials(sp, never)
    with pytest.raises(InputError, match="ARM_SUBSCRIPTION_ID"):
        azure_credentials({"ARM_CLIENT_ID": "c", "ARM_TENANT_ID": "t", "ARM_CLIENT_SECRET": "x"}, never)
