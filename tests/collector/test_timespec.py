"""The --since/--until forms: a table of inputs against a fixed clock and two time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.timespec import FORMS_HELP, TimeSpecError, parse_since, parse_until

NOW = datetime(2025, 11, 14, 10, 30, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in November


class TestSince:
    """Each accepted form, read as the start of what it names."""

    @pytest.mark.parametrize(
        ("text", "tz", "expected"),
        [
            ("30m", UTC, "2025-11-14T10:00:00.000Z"),
            ("2h", UTC, "2025-11-14T08:30:00.000Z"),
            ("7d", UTC, "2025-11-07T10:30:00.000Z"),
            ("2w", UTC, "2025-10-31T10:30:00.000Z"),
            ("90s", UTC, "2025-11-14T10:28:30.000Z"),
            (" 2H ", UTC, "2025-11-14T08:30:00.000Z"),
            ("now", UTC, "2025-11-14T10:30:00.000Z"),
            ("today", UTC, "2025-11-14T00:00:00.000Z"),
            ("today", BERLIN, "2025-11-13T23:00:00.000Z"),
            ("yesterday", UTC, "2025-11-13T00:00:00.000Z"),
            ("yesterday", BERLIN, "2025-11-12T23:00:00.000Z"),
            ("2025-11-01", UTC, "2025-11-01T00:00:00.000Z"),
            ("20251101", BERLIN, "2025-10-31T23:00:00.000Z"),
            ("2025-11-14T09:15", UTC, "2025-11-14T09:15:00.000Z"),
            ("2025-11-14T09:15", BERLIN, "2025-11-14T08:15:00.000Z"),
            ("2025-11-14T09:15:00Z", BERLIN, "2025-11-14T09:15:00.000Z"),
            ("2025-11-14T09:15:00.5+02:00", UTC, "2025-11-14T07:15:00.500Z"),
        ],
    )
    def test_forms(self, text: str, tz: timezone, expected: str) -> None:
        """Relative spans count back from now; days start at local midnight."""
        assert parse_since(text, NOW, tz) == expected


class TestUntil:
    """``--until`` includes the whole day a date or day word names."""

    @pytest.mark.parametrize(
        ("text", "tz", "expected"),
        [
            ("2025-11-13", UTC, "2025-11-14T00:00:00.000Z"),
            ("yesterday", BERLIN, "2025-11-13T23:00:00.000Z"),
            ("today", UTC, "2025-11-15T00:00:00.000Z"),
            ("1h", UTC, "2025-11-14T09:30:00.000Z"),
            ("2025-11-14T09:15", UTC, "2025-11-14T09:15:00.000Z"),
        ],
    )
    def test_forms(self, text: str, tz: timezone, expected: str) -> None:
        """A date's end is the next local midnight; times and spans are exact."""
        assert parse_until(text, NOW, tz) == expected


class TestErrors:
    """What cannot be read says which forms can."""

    @pytest.mark.parametrize(
        "text", ["", "soon", "1y", "2025-13-01", "20251340", "yesterday-ish", "99999999999999d"]
    )
    def test_rejected_with_the_forms(self, text: str) -> None:
        """The message names the input and lists every accepted form."""
        with pytest.raises(TimeSpecError) as caught:
            parse_since(text, NOW, UTC)
        assert FORMS_HELP in str(caught.value)
        assert repr(text) in str(caught.value)

    def test_is_a_value_error(self) -> None:
        """argparse ``type=`` callables report a ValueError as a usage error."""
        assert issubclass(TimeSpecError, ValueError)


@given(minutes=st.integers(min_value=0, max_value=10**6))
def test_relative_minutes_are_exact(minutes: int) -> None:
    """``Nm`` is exactly N minutes before now, whatever the zone."""
    expected = (NOW - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
    assert parse_since(f"{minutes}m", NOW, BERLIN) == expected.replace("+00:00", "Z")
