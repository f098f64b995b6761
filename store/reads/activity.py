"""The tracker's read-only view of the database: which sessions moved, and their tails.

The tracker never writes here (the writer thread owns the only write connection); it reads
with its own ``mode=ro`` connection. Every query is index-backed and proportional to what
changed or to the sessions being tracked, never to the whole history:

- new events are found by rowid (``id > cursor``, rows only grow), at most ``batch`` per call,
  so a large backfill is walked in steps instead of one long query;
- sessions are read by primary key or unique ``session_key``;
- a session's tail is its newest events through ``idx_events_session_time``;
- a transcript's committed offset is one primary-key read of ``files``.

Two queries scan ``sessions`` whole, once at start-up: the sessions left active by the last run
and the ones active within the horizon (there is no index on ``last_activity``).
Each statement is its own short read transaction, so the tracker never pins the WAL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from store.connection import open_database

__all__ = ["ActivityReader", "SessionRow", "epoch"]

_SESSION_COLUMNS = (
    "id, session_key, agent, project_dir, transcript_path, parent_session_id, spawned_at, "
    "last_activity, status, pid, pid_started_at, tmux_target, ended_at"
)


def epoch(stamp: object) -> float | None:
    """Epoch seconds of a stored ISO timestamp, or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class SessionRow:
    """The columns of one session the tracker uses."""

    id: int
    key: str
    agent: str
    project_dir: str | None
    transcript_path: str | None
    parent_id: int | None
    first_activity: float | None
    last_activity: float | None
    status: str
    pid: int | None
    pid_started_at: str | None
    tmux_target: str | None
    ended_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SessionRow:
        """Build from a ``_SESSION_COLUMNS`` row."""
        return cls(
            int(row[0]), row[1], row[2], row[3], row[4], row[5], epoch(row[6]), epoch(row[7]),
            row[8], row[9], row[10], row[11], epoch(row[12]),
        )  # fmt: skip


class ActivityReader:
    """A read-only connection for the tracker thread (create and use it in that thread)."""

    def __init__(self, database: str | Path) -> None:
        self._conn = open_database(database, readonly=True)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _sessions(self, where: str, params: Iterable[Any]) -> list[SessionRow]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where}"
        return [SessionRow.from_row(r) for r in self._conn.execute(sql, tuple(params))]

    def max_event_id(self) -> int:
        """The newest event's rowid (0 when empty)."""
        return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def touched(self, after: int, batch: int = 20000) -> tuple[set[int], int]:
        """Sessions with events above rowid ``after`` (up to ``batch`` rows), and the new cursor.

        The tracker's own ``status_change`` rows are not activity.
        """
        top = min(self.max_event_id(), after + batch)
        if top <= after:
            return set(), after
        rows = self._conn.execute(
            "SELECT DISTINCT session_id FROM events WHERE id > ? AND id <= ? "
            "AND event_type != 'status_change'",
            (after, top),
        )
        return {int(r[0]) for r in rows}, top

    def by_ids(self, ids: Iterable[int]) -> list[SessionRow]:
        """The sessions with these ids."""
        wanted = list(ids)
        out: list[SessionRow] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            out.extend(self._sessions(f"id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def by_key(self, key: str) -> SessionRow | None:
        """The session with ``session_key`` = ``key``, if stored."""
        rows = self._sessions("session_key = ?", (key,))
        return rows[0] if rows else None

    def active(self) -> list[SessionRow]:
        """Sessions whose stored status is running, idle or waiting."""
        return self._sessions("status IN ('running', 'idle', 'waiting')", ())

    def recent(self, since: str) -> list[SessionRow]:
        """Sessions active at or after ``since`` (ISO); a full scan, for start-up only."""
        return self._sessions("last_activity >= ?", (since,))

    def tail(self, session_id: int, limit: int = 40) -> list[dict[str, Any]]:
        """The newest ``limit`` events of a session (newest first), as the status rules read."""
        rows = self._conn.execute(
            "SELECT event_type, status, tool_arguments, raw_data, timestamp FROM events "
            "WHERE session_id = ? AND event_type != 'status_change' "
            "ORDER BY timestamp DESC, id DESC LIMIT ?",
            (session_id, limit),
        )
        return [
            {"event_type": r[0], "status": r[1], "tool_arguments": r[2], "raw_data": r[3],
             "at": epoch(r[4])}
            for r in rows
        ]  # fmt: skip

    def committed_offset(self, path: str) -> int | None:
        """The committed read offset of the transcript at ``path``, if it is tracked."""
        row = self._conn.execute("SELECT offset FROM files WHERE path = ?", (path,)).fetchone()
        return int(row[0]) if row else None
