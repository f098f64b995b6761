"""The query commands' filter values, checked before any query runs.

A value the store has no rows for because it cannot exist (``--type bogus``, ``--agent claude``)
must not answer "(no rows)": it is a usage error (exit 2) that names the values that exist.
``claude`` is taken for ``claude-code``, the name people type. ``--session`` takes what ``git``
taught people for hashes: a row id, or a unique prefix of the session key or of the agent's own
session id; an ambiguous prefix lists the candidates. Times go through ``collector.timespec``.

Pure apart from ``resolve_session``, which reads through ``store.reads.lookups``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from collector.parsers.categories import CATEGORIES
from collector.timespec import TimeSpecError, parse_since, parse_until
from config.agents import aliases, names
from config.errors import UsageError
from store import EventStore
from store.reads.lookups import sessions_matching
from store.records import EVENT_TYPES

__all__ = [
    "EVENT_STATUSES",
    "SESSION_STATUSES",
    "agent_value",
    "category_value",
    "choice",
    "event_type_value",
    "resolve_session",
    "time_value",
]

SESSION_STATUSES = ("running", "idle", "waiting", "completed", "crashed", "stopped", "unknown")
EVENT_STATUSES = ("pending", "success", "error")
_CANDIDATES_SHOWN = 10


def choice(option: str, value: str | None, valid: Iterable[str]) -> str | None:
    """``value`` when it is one of ``valid`` (None passes); else a ``UsageError`` naming them."""
    if value is None:
        return None
    allowed = tuple(valid)
    if value in allowed:
        return value
    raise UsageError(option, f"unknown value {value!r}; valid: {', '.join(allowed)}")


def agent_value(value: str | None) -> str | None:
    """An agent name, ``claude`` and the other obvious aliases taken for the real names."""
    if value is None:
        return None
    return choice("--agent", aliases().get(value.lower(), value.lower()), names())


def event_type_value(value: str | None) -> str | None:
    """An ``events.event_type``."""
    return choice("--type", value, EVENT_TYPES)


def category_value(value: str | None) -> str | None:
    """A command category."""
    return choice("--category", value, CATEGORIES)


def time_value(option: str, value: str | None, now: datetime, tz: tzinfo) -> str | None:
    """A ``--since``/``--until`` value as a store timestamp (``collector.timespec`` forms)."""
    if value is None:
        return None
    try:
        if option == "--until":
            return parse_until(value, now, tz)
        return parse_since(value, now, tz)
    except TimeSpecError as exc:
        raise UsageError(option, str(exc)) from exc


def resolve_session(store: EventStore, ref: str | None) -> int | None:
    """The row id of the one session ``ref`` names (see the module docstring)."""
    if ref is None:
        return None
    found = sessions_matching(store.connection, ref, cap=_CANDIDATES_SHOWN + 1)
    if len(found) == 1:
        return int(found[0]["id"])
    if not found:
        raise UsageError("--session", f"no session matches {ref!r} (see `sessions`)")
    shown = "; ".join(
        f"{row['id']} {row['session_key']}"
        + (f" ({row['agent_session_id']})" if row.get("agent_session_id") else "")
        for row in found[:_CANDIDATES_SHOWN]
    )
    more = " …" if len(found) > _CANDIDATES_SHOWN else ""
    raise UsageError("--session", f"{ref!r} is ambiguous: {shown}{more}")
