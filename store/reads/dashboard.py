"""The dashboard's reads of the store: every SQL statement the web process runs.

The dashboard is a separate process that only reads. Each function takes a read-only
connection (``ReadConnections``) and runs short autocommit reads, so the reader never holds a
snapshot that would stop the daemon's WAL checkpoints, and keeps working across the daemon's
commits, checkpoints and restarts (a WAL reader sees each commit as soon as it is made).

Row ids are the stream's cursor: the single writer inserts in commit order and never deletes,
so ``id > cursor AND id <= top`` (``top`` read first) returns exactly the rows committed since,
with no gap and no repeat. Every column name in a filter comes from a fixed tuple here.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from store.conditions import conditions
from store.connection import open_database, store_errors

__all__ = [
    "COMPACT_COLUMNS",
    "EVENT_FILTERS",
    "ReadConnections",
    "command_stats",
    "data_version",
    "event_page",
    "events_after",
    "events_by_ids",
    "file_activity",
    "inode_of",
    "last_tool_calls",
    "max_event_id",
    "pending_ids",
    "session_row",
    "session_rows",
    "session_totals",
    "session_usage_series",
]

Row = dict[str, Any]
EVENT_FILTERS = ("event_type", "tool_name", "status")
# What a page shows of an event: no raw data, no arguments (often most of a row's bytes).
COMPACT_COLUMNS = (
    "id", "session_id", "agent_event_id", "timestamp", "event_type", "tool_name", "tool_call_id",
    "file_path", "operation", "command", "command_category", "status", "duration_ms",
    "exit_code", "model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "reasoning_tokens", "wait_ms", "preview",
)  # fmt: skip
_COMPACT = ", ".join(COMPACT_COLUMNS)
_JSON_COLUMNS = ("tool_arguments", "raw_data")
_TOOL_TYPES = "('file_op', 'command', 'tool_call')"


class ReadConnections:
    """One read-only connection per thread (sqlite3 connections are not shared across threads).

    Opened lazily, so a dashboard started before the daemon ever ran answers 503 until the
    database exists instead of failing to start. A connection whose file was replaced (deleted
    and created anew: another inode) is reopened, or it would read the old file forever.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: dict[int, sqlite3.Connection] = {}
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use and after the file was replaced."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        inode = inode_of(self.path)
        if conn is not None and inode != self._local.inode:
            self._forget(conn)
            conn = None
        if conn is None:
            conn = open_database(self.path, readonly=True)
            conn.row_factory = sqlite3.Row
            self._local.conn, self._local.inode = conn, inode
            with self._lock:
                self._all[id(conn)] = conn
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._all.pop(id(conn), None)
        conn.close()
        self._local.conn = None

    def close(self) -> None:
        """Close every connection opened so far; idempotent."""
        with self._lock:
            conns, self._all = list(self._all.values()), {}
        for conn in conns:
            conn.close()


def inode_of(path: Path) -> int | None:
    """The database file's inode (None when missing): tells a replaced file from the same."""
    try:
        return path.stat().st_ino
    except OSError:
        return None


@store_errors
def data_version(conn: sqlite3.Connection) -> int:
    """Moves whenever another connection commits (cheap: no table is read)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


@store_errors
def max_event_id(conn: sqlite3.Connection) -> int:
    """The newest event row id (0 for an empty store)."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


# sessions -----------------------------------------------------------------------------------
@store_errors
def session_rows(
    conn: sqlite3.Connection,
    *,
    statuses: Sequence[str] = (),
    agent: str | None = None,
    project: str | None = None,
    since: str | None = None,
    parent_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[Row], int]:
    """Sessions, newest activity first, and how many match in all.

    ``project`` matches the project folder or its last component.
    """
    place = (project, "%/" + _like_escape(project)) if project is not None else None
    where, params = conditions(
        (f"status IN ({', '.join('?' for _ in statuses)})", tuple(statuses) or None),
        ("agent = ?", agent),
        ("(project_dir = ? OR project_dir LIKE ? ESCAPE '\\')", place),
        ("COALESCE(last_activity, started_at, created_at) >= ?", since),
        ("parent_session_id = ?", parent_id),
    )
    clause = " WHERE " + " AND ".join(where) if where else ""
    total = int(conn.execute(f"SELECT COUNT(*) FROM sessions{clause}", params).fetchone()[0])
    sql = (
        f"SELECT * FROM sessions{clause} "
        "ORDER BY COALESCE(last_activity, started_at, created_at) DESC, id DESC LIMIT ? OFFSET ?"
    )
    rows = [dict(row) for row in conn.execute(sql, [*params, limit, offset])]
    return rows, total


@store_errors
def session_row(conn: sqlite3.Connection, session_id: int) -> Row | None:
    """One session by its integer id."""
    row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return dict(row) if row else None


@store_errors
def session_totals(conn: sqlite3.Connection, after_id: int, top: int) -> list[tuple[Any, ...]]:
    """Per session, what rows ``after_id < id <= top`` add: events, tool calls, errors, tokens.

    Events are append-only, so a caller keeps running sums by feeding each new range once.
    Columns: session_id, events, tool_calls, errors, input, output, cache_creation,
    cache_read, reasoning.
    """
    sql = f"""
        SELECT session_id, COUNT(*),
               SUM(event_type IN {_TOOL_TYPES}),
               SUM(event_type = 'error' OR status = 'error'),
               SUM(CASE WHEN event_type = 'usage' THEN COALESCE(input_tokens, 0) END),
               SUM(CASE WHEN event_type = 'usage' THEN COALESCE(output_tokens, 0) END),
               SUM(CASE WHEN event_type = 'usage' THEN COALESCE(cache_creation_tokens, 0) END),
               SUM(CASE WHEN event_type = 'usage' THEN COALESCE(cache_read_tokens, 0) END),
               SUM(CASE WHEN event_type = 'usage' THEN COALESCE(reasoning_tokens, 0) END)
        FROM events WHERE id > ? AND id <= ? GROUP BY session_id
    """
    return [tuple(row) for row in conn.execute(sql, (after_id, top))]


@store_errors
def last_tool_calls(conn: sqlite3.Connection, session_ids: Iterable[int]) -> dict[int, Row]:
    """Each session's newest tool call (by time), for its current tool."""
    out: dict[int, Row] = {}
    sql = (
        "SELECT id, event_type, tool_name, status, command, file_path, timestamp FROM events "
        f"WHERE session_id = ? AND +event_type IN {_TOOL_TYPES} "
        "ORDER BY timestamp DESC, id DESC LIMIT 1"
    )
    for session_id in session_ids:
        row = conn.execute(sql, (session_id,)).fetchone()
        if row is not None:
            out[session_id] = dict(row)
    return out


# events -------------------------------------------------------------------------------------
@store_errors
def event_page(
    conn: sqlite3.Connection,
    session_id: int,
    filters: dict[str, str],
    after_id: int,
    limit: int,
    *,
    compact: bool = False,
) -> list[Row]:
    """A session's events with ``id > after_id`` in id (= ingestion) order; ``limit + 1``
    rows when more follow (the caller shows ``limit`` and knows whether to offer a next page)."""
    where = ["session_id = ?", "id > ?"]
    params: list[Any] = [session_id, after_id]
    for column in EVENT_FILTERS:
        if column in filters:
            where.append(f"{column} = ?")
            params.append(filters[column])
    if len(where) > 2:
        columns = _COMPACT if compact else "*"
        sql = f"SELECT {columns} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        return _events(conn, sql, [*params, limit + 1])
    # Unfiltered: pick the ids from the (session_id, timestamp) index alone, which holds the
    # rowid, and sort just those; sorting whole rows of a 20,000-event session cost 3x more.
    sql = "SELECT id FROM events WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?"
    ids = [int(row[0]) for row in conn.execute(sql, [*params, limit + 1])]
    return events_by_ids(conn, ids, compact=compact)


@store_errors
def events_after(
    conn: sqlite3.Connection, after_id: int, top: int, session_id: int | None, limit: int
) -> list[Row]:
    """Rows committed after the cursor, up to ``top``, oldest first (the stream's read)."""
    if session_id is None:
        sql = "SELECT * FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
        params: list[Any] = [after_id, top, limit]
    else:
        # The +session_id keeps the planner on the rowid range, which is short, rather than
        # the session's whole index range.
        sql = (
            "SELECT * FROM events WHERE id > ? AND id <= ? AND +session_id = ? ORDER BY id LIMIT ?"
        )
        params = [after_id, top, session_id, limit]
    return _events(conn, sql, params)


@store_errors
def pending_ids(
    conn: sqlite3.Connection, session_id: int | None, upto: int, window: int
) -> list[int]:
    """Tool calls still pending at or below ``upto``: a session's all, else the last ``window``
    rows' (an unfiltered scan of the whole table would cost a stream's start a full read)."""
    if session_id is not None:
        sql = (
            "SELECT id FROM events WHERE session_id = ? AND +status = 'pending' AND id <= ? "
            "ORDER BY id"
        )
        return [int(row[0]) for row in conn.execute(sql, (session_id, upto))]
    sql = "SELECT id FROM events WHERE id > ? AND id <= ? AND status = 'pending' ORDER BY id"
    return [int(row[0]) for row in conn.execute(sql, (upto - window, upto))]


@store_errors
def events_by_ids(
    conn: sqlite3.Connection, ids: Sequence[int], *, compact: bool = False
) -> list[Row]:
    """The current state of these rows (tool calls completed in place since they were sent)."""
    if not ids:
        return []
    columns = _COMPACT if compact else "*"
    sql = f"SELECT {columns} FROM events WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
    return _events(conn, sql, (orjson.dumps(list(ids)).decode(),))


@store_errors
def file_activity(conn: sqlite3.Connection, session_id: int) -> list[Row]:
    """Per file of the session: operation counts, last modification and last access."""
    sql = (
        "SELECT * FROM file_activity WHERE session_id = ? ORDER BY total_operations DESC, file_path"
    )
    return [dict(row) for row in conn.execute(sql, (session_id,))]


@store_errors
def command_stats(conn: sqlite3.Connection, session_id: int) -> list[Row]:
    """The ``command_stats`` view for one session."""
    sql = "SELECT * FROM command_stats WHERE session_id = ? ORDER BY count DESC, command_category"
    return [dict(row) for row in conn.execute(sql, (session_id,))]


@store_errors
def session_usage_series(conn: sqlite3.Connection, session_id: int) -> list[Row]:
    """The session's usage records in time order (tokens per model response)."""
    sql = (
        "SELECT timestamp, model, COALESCE(input_tokens, 0) AS input_tokens, "
        "COALESCE(output_tokens, 0) AS output_tokens, "
        "COALESCE(cache_creation_tokens, 0) AS cache_creation_tokens, "
        "COALESCE(cache_read_tokens, 0) AS cache_read_tokens, "
        "COALESCE(reasoning_tokens, 0) AS reasoning_tokens "
        "FROM events WHERE session_id = ? AND +event_type = 'usage' ORDER BY timestamp, id"
    )
    return [dict(row) for row in conn.execute(sql, (session_id,))]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _events(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
    """Event rows as dicts with their JSON columns decoded.

    Plain tuples zipped with the column names: building dicts through ``sqlite3.Row`` took
    two thirds of a 10,000-event page.
    """
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(sql, params)
    names = [column[0] for column in cursor.description]
    out = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for name in _JSON_COLUMNS:
        if name not in names:
            continue
        for row in out:
            text = row[name]
            if isinstance(text, str):
                with contextlib.suppress(orjson.JSONDecodeError):  # capped JSON stays text
                    row[name] = orjson.loads(text)
    return out
