"""The time forms every ``--since`` / ``--until`` option accepts, turned into store timestamps.

People type what ``journalctl`` and ``git log`` taught them: a relative span back from now
(``30m``, ``2h``, ``7d``, ``2w``), ``now``, ``today``, ``yesterday``, a date (``2025-11-14`` or
``20251114``, as ccusage writes it), or an ISO time (``2025-11-14T10:00``, with or without an
offset; without one it is local time). Dates and day words are local calendar days: ``--since
today`` starts at local midnight, and ``--until 2025-11-14`` includes the whole of that day.

Pure: the caller passes ``now`` and the time zone, so a test fixes both. The result is in the
store's one timestamp form (``store.timestamps``), which compares as text in SQL.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from store.timestamps import format_timestamp

__all__ = ["FORMS_HELP", "TimeSpecError", "parse_since", "parse_until"]

FORMS_HELP = "30m, 2h, 7d, 2w, now, today, yesterday, YYYY-MM-DD, YYYYMMDD or an ISO time"

_RELATIVE = re.compile(r"([0-9]+)\s*(s|m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_COMPACT_DATE = re.compile(r"[0-9]{8}")


class TimeSpecError(ValueError):
    """A time the options cannot read; the message lists the forms they accept."""

    def __init__(self, text: str) -> None:
        super().__init__(f"cannot read the time {text!r}: use {FORMS_HELP}")
        self.text = text


def parse_since(text: str, now: datetime, tz: tzinfo) -> str:
    """The first moment ``text`` names (a day's start for dates and day words)."""
    return format_timestamp(_moment(text, now, tz, end_of_day=False))


def parse_until(text: str, now: datetime, tz: tzinfo) -> str:
    """The moment ``text`` ends: a date or day word includes that whole local day."""
    return format_timestamp(_moment(text, now, tz, end_of_day=True))


def _moment(text: str, now: datetime, tz: tzinfo, *, end_of_day: bool) -> datetime:
    spec = text.strip().lower()
    local_now = now.astimezone(tz)
    day = _day(spec, local_now)
    if day is not None:
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=tz)
    if spec == "now":
        return now
    relative = _RELATIVE.fullmatch(spec)
    if relative:
        amount, unit = int(relative[1]), _UNITS[relative[2].lower()]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError as exc:
            raise TimeSpecError(text) from exc
    return _iso_time(text, tz)


def _day(spec: str, local_now: datetime) -> date | None:
    """The local calendar day ``spec`` names, or None when it is not a day."""
    if spec == "today":
        return local_now.date()
    if spec == "yesterday":
        return local_now.date() - timedelta(days=1)
    try:
        if _COMPACT_DATE.fullmatch(spec):
            return date(int(spec[:4]), int(spec[4:6]), int(spec[6:]))
        if len(spec) == 10:
            return date.fromisoformat(spec)
    except ValueError:
        return None
    return None


def _iso_time(text: str, tz: tzinfo) -> datetime:
    raw = text.strip()
    if raw[-1:] in ("Z", "z"):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise TimeSpecError(text) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
