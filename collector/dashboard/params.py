"""Query-string parameters of the JSON API, checked before any read.

Pure: a bad value raises ``ParamError`` with a message that names the parameter and what it
accepts; the app turns it into a 400. Unknown parameters are refused too, so a typo such as
``?stauts=running`` is an error rather than a silently unfiltered answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, tzinfo

from collector.timespec import TimeSpecError, parse_since, parse_until

__all__ = ["ParamError", "check_known", "choices", "integer", "since", "text", "until"]

MAX_TEXT = 4096


class ParamError(ValueError):
    """A query parameter the API cannot use; the message is shown to the caller."""


def check_known(query: Mapping[str, str], known: Collection[str]) -> None:
    """Refuse parameters this endpoint does not take."""
    unknown = sorted(set(query) - set(known) - {"token"})
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ParamError(f"unknown parameter {unknown[0]!r}; this endpoint takes: {allowed}")


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer within ``[low, high]``; ``default`` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ParamError(f"{name}: not an integer: {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ParamError(f"{name}: {value} is out of range ({low}..{high})")
    return value


def choices(query: Mapping[str, str], name: str, valid: Collection[str]) -> list[str]:
    """Comma-separated values, each one of ``valid`` (empty list when absent)."""
    raw = query.get(name)
    if not raw:
        return []
    values = [part.strip() for part in raw.split(",") if part.strip()]
    for value in values:
        if value not in valid:
            raise ParamError(f"{name}: unknown value {value[:40]!r}; valid: {', '.join(valid)}")
    return values


def text(query: Mapping[str, str], name: str) -> str | None:
    """A free-text value (None when absent or empty)."""
    raw = query.get(name)
    if not raw:
        return None
    if len(raw) > MAX_TEXT:
        raise ParamError(f"{name}: longer than {MAX_TEXT} characters")
    return raw


def since(query: Mapping[str, str], name: str, now: datetime, tz: tzinfo) -> str | None:
    """A ``--since`` form (``30m``, ``today``, a date, an ISO time) as a store timestamp."""
    return _moment(query, name, lambda raw: parse_since(raw, now, tz))


def until(query: Mapping[str, str], name: str, now: datetime, tz: tzinfo) -> str | None:
    """An ``--until`` form as a store timestamp (a date includes that whole day)."""
    return _moment(query, name, lambda raw: parse_until(raw, now, tz))


def _moment(query: Mapping[str, str], name: str, parse: Callable[[str], str]) -> str | None:
    raw = text(query, name)
    if raw is None:
        return None
    try:
        return parse(raw)
    except TimeSpecError as exc:
        raise ParamError(f"{name}: {exc}") from None
