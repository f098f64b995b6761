"""The reads behind ``events --follow``: the newest events, then each commit's new ones.

New rows are found by ``id`` (the single writer appends in commit order), bounded above by the
``MAX(id)`` read first, so the next read starts exactly where this one stopped and rows that do
not match the filters are never scanned twice. Every column name in a filter comes from a
fixed tuple here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.event_store import EventStore
from store.timestamps import normalize_timestamp

__all__ = ["EventFilter", "event_filter", "events_between", "recent_events"]

Row = dict[str, Any]
_COLUMNS = ("event_type", "tool_name", "file_path", "command_category", "status")
_JSON_COLUMNS = ("tool_arguments", "raw_data")


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
    clauses: list[str] = []
    params: list[Any] = []
    if session is not None:
        clauses.append("session_id = ?")
        params.append(store.session_id_of(session))
    for column in _COLUMNS:
        if filters.get(column) is not None:
            clauses.append(f"{column} = ?")
            params.append(filters[column])
    if filters.get("agent") is not None:
        clauses.append("session_id IN (SELECT id FROM sessions WHERE agent = ?)")
        params.append(filters["agent"])
    for name, op in (("since", ">="), ("until", "<=")):
        if filters.get(name) is not None:
            stamp = normalize_timestamp(filters[name])
            if stamp is None:
                raise ValueError(f"{name}: not a timestamp: {filters[name]!r}")
            clauses.append(f"timestamp {op} ?")
            params.append(stamp)
    return EventFilter("".join(f" AND {c}" for c in clauses), tuple(params))


def recent_events(store: EventStore, match: EventFilter, limit: int) -> tuple[list[Row], int]:
    """The last ``limit`` matching events (oldest first) and the newest id, to follow from."""
    conn = store.connection
    last_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
    sql = f"SELECT * FROM events WHERE id <= ?{match.clauses} ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, [last_id, *match.params, limit]).fetchall()
    return [_decode(row) for row in reversed(rows)], last_id


def events_between(store: EventStore, match: EventFilter, after_id: int, top: int) -> list[Row]:
    """The matching events with ``after_id < id <= top``, in commit order."""
    sql = f"SELECT * FROM events WHERE id > ? AND id <= ?{match.clauses} ORDER BY id"
    rows = store.connection.execute(sql, [after_id, top, *match.params]).fetchall()
    return [_decode(row) for row in rows]


def _decode(row: sqlite3.Row) -> Row:
    out = dict(row)
    for name in _JSON_COLUMNS:
        text = out.get(name)
        if isinstance(text, str):
            with contextlib.suppress(ValueError):  # capped JSON stays text
                out[name] = json.loads(text)
    return out
