"""The local side of a sink: the change feed, a sink's cursor, and reading what it has not shipped.

Rows reach a sink two ways. New events are read by row id after the sink's ``event_cursor``
(rowids only grow, and one writer commits them in order). Rows changed in place — a tool call
completed by its result, usage tokens merged, a session's status, end time or activity — are
logged by triggers into ``sink_changes`` (a small outbox whose ``seq`` is commit order), read
after ``change_cursor``. A batch ships the rows' state as committed now, so shipping a row twice
is harmless and the newest state always wins.

The triggers exist only while a sink is enabled (``install_feed`` at the daemon's start,
``remove_feed`` when none is): a store without a sink pays nothing per write. When the feed is
(re)installed, updates made while it was off were not logged, so every cursor starts over: the
next batches re-ship everything (idempotently) and every session is queued once.

A sink's cursor advances (``advance``) only after the remote commit, and in the same local
transaction the outbox rows it no longer needs are deleted; the last one is kept so ``seq``
never restarts below a cursor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from store.connection import store_errors
from store.timestamps import format_timestamp

__all__ = [
    "EVENT_COLUMNS",
    "SESSION_COLUMNS",
    "Cursor",
    "Pending",
    "SinkLag",
    "advance",
    "connect",
    "feed_installed",
    "install_feed",
    "read_cursor",
    "read_lag",
    "read_lags",
    "read_pending",
    "remove_feed",
    "start_over",
]

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_TRIGGERS = {
    "sink_feed_event_update": f"AFTER UPDATE ON events BEGIN INSERT INTO sink_changes "
    f"(kind, row_id, changed_at) VALUES ('event', NEW.id, {_NOW}); END",
    "sink_feed_session_insert": f"AFTER INSERT ON sessions BEGIN INSERT INTO sink_changes "
    f"(kind, row_id, changed_at) VALUES ('session', NEW.id, {_NOW}); END",
    "sink_feed_session_update": f"AFTER UPDATE ON sessions BEGIN INSERT INTO sink_changes "
    f"(kind, row_id, changed_at) VALUES ('session', NEW.id, {_NOW}); END",
}

# What a sink receives: the local columns plus the session's text key (the natural key across
# machines); parent_session_key stands beside the local parent id, which means nothing remotely.
SESSION_COLUMNS = (
    "id", "session_key", "agent", "agent_session_id", "project_dir", "task_file", "spawned_at",
    "spawned_by", "status", "importance", "pid", "pid_started_at", "last_activity",
    "transcript_path", "parent_session_id", "parent_tool_call_id", "ended_at", "git_branch",
    "model", "agent_version", "title", "tmux_target", "created_at", "updated_at", "started_at",
    "parent_session_key",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "session_id", "session_key", "agent_event_id", "parent_event_id", "timestamp",
    "event_type", "tool_name", "tool_call_id", "tool_arguments", "file_path", "operation",
    "command", "command_category", "status", "duration_ms", "exit_code", "model",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "source",
    "source_offset", "raw_data", "created_at", "reasoning_tokens", "cache_creation_1h_tokens",
    "wait_ms", "preview",
)  # fmt: skip
_SESSION_SELECT = (
    "SELECT " + ", ".join(f"s.{c}" for c in SESSION_COLUMNS[:-1])
    + ", p.session_key FROM sessions AS s LEFT JOIN sessions AS p ON p.id = s.parent_session_id"
)  # fmt: skip


def _event_select(include_raw: bool) -> str:
    columns = [
        "s.session_key" if c == "session_key" else ("NULL" if c == "raw_data" and not include_raw
                                                     else f"e.{c}")
        for c in EVENT_COLUMNS
    ]  # fmt: skip
    return f"SELECT {', '.join(columns)} FROM events AS e JOIN sessions AS s ON s.id = e.session_id"


class Cursor(msgspec.Struct, frozen=True):
    """How far a sink has shipped."""

    event_cursor: int = 0
    change_cursor: int = 0
    shipped_rows: int = 0
    shipped_at: str | None = None


class Pending(msgspec.Struct, frozen=True):
    """One batch to ship: rows as committed when read, and the cursor to store once shipped."""

    sessions: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    event_cursor: int
    change_cursor: int
    moved: bool  # the cursors would move (there may be nothing to ship: changes to lost rows)

    @property
    def empty(self) -> bool:
        """Nothing to ship."""
        return not self.sessions and not self.events


class SinkLag(msgspec.Struct, frozen=True):
    """What a sink has not shipped yet."""

    rows: int  # new events plus rows changed in place
    oldest: str | None  # commit time of the oldest of them (ISO-8601 UTC)
    cursor: Cursor

    def seconds(self, now: datetime | None = None) -> float | None:
        """How long the oldest unshipped row has waited (0 when none waits)."""
        if not self.rows:
            return 0.0
        if not self.oldest:
            return None
        try:
            then = datetime.fromisoformat(self.oldest.replace("Z", "+00:00"))
        except ValueError:
            return None
        now = now or datetime.now(UTC)
        return round(max(0.0, (now - then).total_seconds()), 1)


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


@store_errors
def connect(path: str, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """A sink's own connection to the daemon's (already migrated) store: it reads batches and
    writes only its cursor, in short transactions, so the writer waits microseconds at most."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute("PRAGMA cache_size=-2048")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def feed_installed(conn: sqlite3.Connection) -> bool:
    """Are the change-feed triggers there."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    return set(_TRIGGERS) <= names


def install_feed(conn: sqlite3.Connection, sinks: Sequence[str]) -> bool:
    """Create the triggers for ``sinks`` (the writer is not running yet); True when they were
    missing, in which case every cursor starts over and every session is queued."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh = not feed_installed(conn)
        for name, body in _TRIGGERS.items():
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        now = _now()
        for sink in sinks:
            conn.execute(
                "INSERT INTO sink_cursors (sink, updated_at) VALUES (?, ?) "
                "ON CONFLICT (sink) DO NOTHING",
                (sink, now),
            )
        if fresh:
            _start_over(conn, now, None)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return fresh


def start_over(conn: sqlite3.Connection, sink: str) -> None:
    """Ship everything to ``sink`` again: its remote copy lost rows it had confirmed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _start_over(conn, _now(), sink)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _start_over(conn: sqlite3.Connection, now: str, sink: str | None) -> None:
    """Cursors (one sink's, or all) back to the first event; every session queued once."""
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sink_changes").fetchone()[0]
    conn.execute(
        "UPDATE sink_cursors SET event_cursor = 0, change_cursor = ?, updated_at = ? "
        "WHERE ? IS NULL OR sink = ?",
        (top, now, sink, sink),
    )
    conn.execute(
        "INSERT INTO sink_changes (kind, row_id, changed_at) "
        "SELECT 'session', id, ? FROM sessions ORDER BY id",
        (now,),
    )


def remove_feed(conn: sqlite3.Connection) -> None:
    """Drop the triggers, the outbox and the cursors (no sink is enabled: a sink enabled again
    later ships everything anew, since the updates made meanwhile were not logged)."""
    if not feed_installed(conn) and not _has_rows(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in _TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute("DELETE FROM sink_changes")
        conn.execute("DELETE FROM sink_cursors")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _has_rows(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sink_changes) OR EXISTS (SELECT 1 FROM sink_cursors)"
    ).fetchone()
    return bool(found[0])


def read_cursor(conn: sqlite3.Connection, sink: str) -> Cursor:
    """The sink's cursor (zeros when it never shipped)."""
    row = conn.execute(
        "SELECT event_cursor, change_cursor, shipped_rows, shipped_at FROM sink_cursors "
        "WHERE sink = ?",
        (sink,),
    ).fetchone()
    return Cursor(*row) if row else Cursor()


@store_errors
def read_pending(
    conn: sqlite3.Connection, sink: str, limit: int, *, include_raw: bool = False
) -> Pending:
    """The next batch after the sink's cursor, read in one snapshot (at most ``limit`` new
    events and ``limit`` changes); sessions of every shipped event come along."""
    conn.execute("BEGIN")
    try:
        cursor = read_cursor(conn, sink)
        changes = conn.execute(
            "SELECT seq, kind, row_id FROM sink_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor.change_cursor, limit),
        ).fetchall()
        select = _event_select(include_raw)
        events = conn.execute(
            f"{select} WHERE e.id > ? ORDER BY e.id LIMIT ?", (cursor.event_cursor, limit)
        ).fetchall()
        event_cursor = events[-1][0] if events else cursor.event_cursor
        # A change to a row not shipped yet ships with that row (as it will be then).
        shipped = cursor.event_cursor
        changed = sorted({r[2] for r in changes if r[1] == "event" and r[2] <= shipped})
        if changed:
            events += conn.execute(
                f"{select} WHERE e.id IN (SELECT value FROM json_each(?)) ORDER BY e.id",
                (_json_ids(changed),),
            ).fetchall()
        session_ids = {r[2] for r in changes if r[1] == "session"} | {e[1] for e in events}
        sessions = conn.execute(
            f"{_SESSION_SELECT} WHERE s.id IN (SELECT value FROM json_each(?)) ORDER BY s.id",
            (_json_ids(sorted(session_ids)),),
        ).fetchall() if session_ids else []  # fmt: skip
    finally:
        conn.execute("COMMIT")
    change_cursor = changes[-1][0] if changes else cursor.change_cursor
    moved = (event_cursor, change_cursor) != (cursor.event_cursor, cursor.change_cursor)
    return Pending([tuple(r) for r in sessions], [tuple(r) for r in events],
                   event_cursor, change_cursor, moved)  # fmt: skip


def _json_ids(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


@store_errors
def advance(conn: sqlite3.Connection, sink: str, pending: Pending) -> None:
    """Store the sink's new cursor (after the remote commit) and drop the outbox rows no sink
    still needs, keeping the newest so ``seq`` never restarts below a cursor."""
    shipped = len(pending.sessions) + len(pending.events)
    now = _now()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE sink_cursors SET event_cursor = ?, change_cursor = ?, "
            "shipped_rows = shipped_rows + ?, shipped_at = ?, updated_at = ? WHERE sink = ?",
            (pending.event_cursor, pending.change_cursor, shipped, now, now, sink),
        )
        conn.execute(
            "DELETE FROM sink_changes WHERE seq < (SELECT MIN(change_cursor) FROM sink_cursors)"
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@store_errors
def read_lag(conn: sqlite3.Connection, sink: str) -> SinkLag:
    """Rows not shipped yet and the commit time of the oldest (point lookups only)."""
    cursor = read_cursor(conn, sink)
    top_event, top_change = conn.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM events), "
        "(SELECT COALESCE(MAX(seq), 0) FROM sink_changes)"
    ).fetchone()
    rows = max(0, top_event - cursor.event_cursor) + max(0, top_change - cursor.change_cursor)
    stamps = conn.execute(
        "SELECT (SELECT created_at FROM events WHERE id > ? ORDER BY id LIMIT 1), "
        "(SELECT changed_at FROM sink_changes WHERE seq > ? ORDER BY seq LIMIT 1)",
        (cursor.event_cursor, cursor.change_cursor),
    ).fetchone()
    known = [s for s in stamps if s]
    return SinkLag(rows, min(known) if known else None, cursor)


def read_lags(conn: sqlite3.Connection) -> dict[str, SinkLag]:
    """Every sink that ever shipped from this store, with its lag."""
    sinks = [r[0] for r in conn.execute("SELECT sink FROM sink_cursors ORDER BY sink")]
    return {sink: read_lag(conn, sink) for sink in sinks}
