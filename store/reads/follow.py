"""The reads behind ``events --follow``: the newest events, then each commit's new ones.

New rows are found by ``id`` (the single writer appends in commit order), bounded above by the
``MAX(id)`` read first, so the next read starts exactly where this one stopped and rows that do
not match the filters are never scanned twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.event_store import EventStore, decode_event

__all__ = ["EventFilter", "event_filter", "events_between", "recent_events"]

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """`` AND …`` clauses with their parameters, built once per follow."""

    clauses: str
    params: tuple[Any, ...]


def event_filter(
    store: EventStore, session: int | str | None, filters: Mapping[str, Any]
) -> EventFilter:
    """The filter for ``session`` (id or key) and the ``filters`` given; raises ``ValueError``
    for a since/until that is not a timestamp."""
    clauses, params = store.event_conditions(session, filters)
    return EventFilter("".join(f" AND {c}" for c in clauses), tuple(params))


def recent_events(store: EventStore, match: EventFilter, limit: int) -> tuple[list[Row], int]:
    """The last ``limit`` matching events (oldest first) and the newest id, to follow from."""
    conn = store.connection
    last_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
    sql = f"SELECT * FROM events WHERE id <= ?{match.clauses} ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, [last_id, *match.params, limit]).fetchall()
    return [decode_event(row) for row in reversed(rows)], last_id


def events_between(store: EventStore, match: EventFilter, after_id: int, top: int) -> list[Row]:
    """The matching events with ``after_id < id <= top``, in commit order."""
    sql = f"SELECT * FROM events WHERE id > ? AND id <= ?{match.clauses} ORDER BY id"
    rows = store.connection.execute(sql, [after_id, top, *match.params]).fetchall()
    return [decode_event(row) for row in rows]
