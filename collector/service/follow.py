"""``events --follow``: stream events as the daemon commits them, like ``tail -f``.

Polling a read-only connection is cheap when nothing changes: ``PRAGMA data_version`` moves only
when another connection commits, so an idle database costs one pragma per tick and no query.
New rows are found by ``id`` (rows are appended in commit order), bounded above by the
``MAX(id)`` read first, so the next tick starts exactly where this one stopped and rows that do
not match the filters are never scanned twice. Each read is a short autocommit transaction: the
follower never holds a snapshot that would stop the writer's WAL checkpoints.

Tool calls are completed in place (pending → success/error) after they were streamed; the stream
shows each row once, as it was when first committed.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from typing import Any

from store import EventStore, normalize_timestamp

__all__ = ["follow_events", "recent_events"]

Row = dict[str, Any]
_COLUMNS = ("event_type", "tool_name", "file_path", "command_category", "status")
_JSON_COLUMNS = ("tool_arguments", "raw_data")


def recent_events(
    store: EventStore, session: int | str | None, filters: Mapping[str, Any], limit: int
) -> tuple[list[Row], int]:
    """The last ``limit`` matching events (oldest first) and the id to follow from."""
    where, params = _where(store, session, filters)
    conn = store.connection
    last_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
    sql = f"SELECT * FROM events WHERE id <= ?{where} ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, [last_id, *params, limit]).fetchall()
    return [_decode(row) for row in reversed(rows)], last_id


def follow_events(
    store: EventStore,
    session: int | str | None,
    filters: Mapping[str, Any],
    after_id: int,
    interval: float = 0.2,
) -> Iterator[list[Row]]:
    """Yield each batch of matching events committed after ``after_id``; runs until stopped."""
    conn = store.connection
    where, params = _where(store, session, filters)
    sql = f"SELECT * FROM events WHERE id > ? AND id <= ?{where} ORDER BY id"
    version = _data_version(conn)
    while True:
        time.sleep(interval)
        now = _data_version(conn)
        if now == version:
            continue
        version = now
        top = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
        if top <= after_id:
            continue
        rows = conn.execute(sql, [after_id, top, *params]).fetchall()
        after_id = top
        if rows:
            yield [_decode(row) for row in rows]


def _where(
    store: EventStore, session: int | str | None, filters: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    """`` AND …`` clauses with their parameters; column names come from a fixed list."""
    clauses: list[str] = []
    params: list[Any] = []
    if session is not None:
        clauses.append("session_id = ?")
        params.append(_session_id(store, session))
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
    return "".join(f" AND {c}" for c in clauses), params


def _session_id(store: EventStore, session: int | str) -> int:
    if isinstance(session, int):
        return session
    row = store.connection.execute(
        "SELECT id FROM sessions WHERE session_key = ?", (session,)
    ).fetchone()
    return int(row[0]) if row else -1


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _decode(row: sqlite3.Row) -> Row:
    out = dict(row)
    for name in _JSON_COLUMNS:
        text = out.get(name)
        if isinstance(text, str):
            with contextlib.suppress(ValueError):  # capped JSON stays text
                out[name] = json.loads(text)
    return out
