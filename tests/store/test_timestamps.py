"""Tests for store.timestamps: a table of the forms agents write, and Hypothesis properties."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from store.timestamps import format_timestamp, normalize_timestamp

# ASCII digits only: ``\d`` would also accept other scripts' digits.
CONTRACT_FORM = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
TEN_AM = "2025-11-14T10:00:00.000Z"
TEN_AM_EPOCH = 1_763_114_400  # datetime(2025, 11, 14, 10, tzinfo=UTC).timestamp()


class TestNormalizeTable:
    """Known inputs and the one form each becomes."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2025-11-14T10:00:00.123Z", "2025-11-14T10:00:00.123Z"),
            ("2025-11-14T10:00:00Z", TEN_AM),
            ("2025-11-14T10:00:00z", TEN_AM),
            ("2025-11-14T10:00:00+00:00", TEN_AM),
            ("2025-11-14T12:00:00+02:00", TEN_AM),
            ("2025-11-14T05:30:00-04:30", TEN_AM),
            ("2025-11-14T12:00:00.5+02:00", "2025-11-14T10:00:00.500Z"),
            ("2025-11-14T10:00:00.1Z", "2025-11-14T10:00:00.100Z"),
            ("2025-11-14T10:00:00.123456Z", "2025-11-14T10:00:00.123Z"),
            ("2025-11-14T10:00:00.123999999Z", "2025-11-14T10:00:00.123Z"),
            ("2025-11-14T12:00:00.1234567891+02:00", "2025-11-14T10:00:00.123Z"),
            ("2025-11-14 10:00:00", TEN_AM),
            ("  2025-11-14T10:00:00Z  ", TEN_AM),
            ("2025-11-14", "2025-11-14T00:00:00.000Z"),
            ("2025-11-14T23:30:00-01:00", "2025-11-15T00:30:00.000Z"),
            (TEN_AM_EPOCH, TEN_AM),
            (float(TEN_AM_EPOCH) + 0.25, "2025-11-14T10:00:00.250Z"),
            (TEN_AM_EPOCH * 1000, TEN_AM),
            (TEN_AM_EPOCH * 1000 + 123, "2025-11-14T10:00:00.123Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.000Z"),
        ],
    )
    def test_recognised(self, value: object, expected: str) -> None:
        """ISO strings (Z, offsets, any fraction length) and epoch s/ms become one form."""
        assert normalize_timestamp(value) == expected

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "   ",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-11-14T25:00:00Z",
            "xxxxxxxxxxTxxxxxxxx.xxxZ",  # the contract form's punctuation, but no digits
            "2025-11-14T1O:00:00.000Z",  # a letter O where a digit belongs
            "٢٠٢٥-١١-١٤T١٠:٠٠:٠٠.٠٠٠Z",  # Arabic-Indic digits in the exact shape
            True,
            False,
            [],
            {},
            float("nan"),
            float("inf"),
            -float("inf"),
            10**30,
            "9999-12-31T23:59:59-01:00",  # overflows past year 9999 in UTC
            "0001-01-01T00:00:00+01:00",  # underflows before year 1 in UTC
        ],
    )
    def test_unrecognised(self, value: object) -> None:
        """Anything that is not a time gives None instead of raising or passing through."""
        assert normalize_timestamp(value) is None

    def test_early_year_is_padded(self) -> None:
        """Years before 1000 keep four digits (glibc's strftime %Y would drop the zeros)."""
        assert normalize_timestamp("0702-06-15T00:53:20Z") == "0702-06-15T00:53:20.000Z"
        assert normalize_timestamp(-40_000_000_000.0) == "0702-06-15T00:53:20.000Z"


class TestFormatTimestamp:
    """Rendering datetimes."""

    def test_naive_is_utc(self) -> None:
        """A naive datetime is taken as UTC."""
        assert format_timestamp(datetime(2025, 11, 14, 10)) == TEN_AM

    def test_aware_is_converted(self) -> None:
        """An aware datetime is converted to UTC; microseconds are truncated to milliseconds."""
        moment = datetime(2025, 11, 14, 12, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))
        assert format_timestamp(moment) == "2025-11-14T10:00:00.999Z"


class TestNormalizeProperties:
    """Properties over arbitrary input."""

    @given(
        st.one_of(
            st.text(),
            st.integers(),
            st.floats(),
            st.none(),
            st.booleans(),
            st.binary(),
            st.from_regex(r"\A.{10}T.{8}\..{3}Z\Z"),
        )
    )
    def test_never_raises_and_returns_contract_form(self, value: object) -> None:
        """normalize_timestamp never raises; a value it returns is in the contract's form."""
        result = normalize_timestamp(value)
        if result is not None:
            assert CONTRACT_FORM.match(result), result

    @given(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
        )
    )
    def test_isoformat_round_trip(self, moment: datetime) -> None:
        """Any aware datetime's isoformat normalises to the same instant, milliseconds kept."""
        result = normalize_timestamp(moment.isoformat())
        assert result is not None
        back = datetime.fromisoformat(result.replace("Z", "+00:00"))
        assert back == moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    @given(
        st.one_of(
            st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z"),
            st.from_regex(r"\A[0-9٣x]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{5}:[0-9]{2}\.[0-9]{2,4}Z\n?\Z"),
            st.text(alphabet="0123456789-:.TZ٣\n", min_size=23, max_size=25),
        )
    )
    @example("2025-11-14T10:00:00.123Z\n")  # ``$`` would match before the newline
    def test_contract_form_passes_unchanged(self, text: str) -> None:
        """A string wholly in the contract form comes back as it is, and only such a string."""
        whole = CONTRACT_FORM.match(text) is not None and not text.endswith("\n")
        assert (normalize_timestamp(text) == text) == whole

    @given(st.text(alphabet="0123456789-:.TZ+ ", max_size=40))
    def test_idempotent(self, text: str) -> None:
        """Normalising a normalised value changes nothing."""
        once = normalize_timestamp(text)
        if once is not None:
            assert normalize_timestamp(once) == once
