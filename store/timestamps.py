"""Timestamps in the contract's one form: ISO-8601 UTC with milliseconds, ``...T10:00:00.123Z``.

Agents write ISO strings with or without fractions, with ``Z`` or offsets, or epoch numbers in
seconds or milliseconds. Normalising at the edge means SQLite can compare timestamps as text,
which keeps ``since=``/``until=`` filters index-backed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_timestamp", "match_contract_form", "normalize_timestamp"]

_EPOCH_MS_THRESHOLD = 100_000_000_000  # numbers above this are milliseconds, not seconds
# ASCII digits only: ``\d`` would also match other scripts' digits. Each digit is spelled out
# because sre runs single-character tests faster than counted repeats (``[0-9]{4}``), and the
# parsers check every line's timestamp.
_D = "[0-9]"
_CONTRACT_FORM = re.compile(rf"{_D * 4}-{_D * 2}-{_D * 2}T{_D * 2}:{_D * 2}:{_D * 2}\.{_D * 3}Z")
# The pattern is exactly 24 characters wide, so on a 24-character string ``match`` is a full
# match, at about half the cost of ``fullmatch``. Public for callers that inline the fast path
# of ``normalize_timestamp`` (``len(value) == 24 and match_contract_form(value)``).
match_contract_form = _CONTRACT_FORM.match


def format_timestamp(moment: datetime) -> str:
    """Render an aware (or naive-as-UTC) datetime in the contract's form."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat pads the year to four digits; strftime("%Y") does not on glibc (year 702).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def normalize_timestamp(value: object) -> str | None:
    """Return ``value`` in the contract's form, or None when it is not a recognisable time.

    Fast path: a string already in the exact form is returned unchanged, which is the common
    case for Claude Code and Codex lines and keeps the parser hot path cheap.
    """
    if isinstance(value, str):
        if len(value) == 24 and match_contract_form(value):
            return value
        return _from_string(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else float(value)
    try:
        return format_timestamp(datetime.fromtimestamp(seconds, tz=UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _from_string(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # fromisoformat in 3.11 accepts fractions of any length up to 6 digits; trim longer ones.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits > 6:
            text = head + "." + rest[:6] + rest[digits:]
    try:
        # astimezone overflows for e.g. 9999-12-31T23:59:59-01:00.
        return format_timestamp(datetime.fromisoformat(text))
    except (OverflowError, ValueError):
        return None
