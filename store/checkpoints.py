"""The writer's transaction and the ``files`` table (each transcript's committed checkpoint).

``commit_batch`` writes a batch's records and its files' checkpoints in one transaction, so a
checkpoint never runs ahead of its events; at start-up the daemon reads the rows back
(``saved_files``) to resume every file where the last commit left it, and ``status`` reads
them to show each file's progress.

Everything the writer thread asks of SQLite is here, so the writer deals only in the exception
tree: ``StoreBusyError`` (locked, busy, disk full, read-only, I/O) means "nothing was written,
try again later, advance no offset"; any other error means the store refused the data.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from config.errors import StoreBusyError, StoreRejectedError
from store.batch import BatchResult, SessionKeys, apply_records
from store.connection import open_database
from store.crashpoint import crash_point
from store.event_store import EventStore
from store.records import FileUpdate, Record

__all__ = [
    "SAVED_FIELDS",
    "StoredStates",
    "accepts",
    "commit_batch",
    "file_progress",
    "saved_files",
    "set_autocheckpoint",
    "shrink_memory",
    "store_counts",
    "upsert_files",
]

_UPSERT_FILE = """
INSERT INTO files (path, agent, session_id, dev, inode, offset, head_hash, head_len, marker_hash,
                   parser_state, size, lines, problems, oversized, resets, deleted_at, updated_at)
VALUES (:path, :agent, :session_id, :dev, :inode, :offset, :head_hash, :head_len, :marker_hash,
        :parser_state, :size, :lines, :problems, :oversized, :resets, :deleted_at, :now)
ON CONFLICT (path) DO UPDATE SET
    agent = excluded.agent, session_id = COALESCE(excluded.session_id, session_id),
    dev = excluded.dev, inode = excluded.inode, offset = excluded.offset,
    head_hash = excluded.head_hash, head_len = excluded.head_len,
    marker_hash = excluded.marker_hash, parser_state = excluded.parser_state,
    size = excluded.size, lines = lines + excluded.lines, problems = problems + excluded.problems,
    oversized = oversized + excluded.oversized, resets = resets + excluded.resets,
    deleted_at = excluded.deleted_at, updated_at = excluded.updated_at
"""

# The columns a resumed file needs: its identity and offset, and the parser's state: only
# whether it has one for a live file (read back when the file wakes: StoredStates), the state
# itself for a retired one (it may resume under another path).
SAVED_FIELDS = ("path", "dev", "inode", "offset", "head_hash", "head_len", "marker_hash",
                "parser_state", "has_state", "session_key", "gone")  # fmt: skip


def upsert_files(
    conn: sqlite3.Connection, files: list[FileUpdate], now: str, keys: SessionKeys
) -> None:
    """Write each file's new checkpoint, inside the caller's transaction; line and problem
    counts add to what is stored."""
    conn.executemany(_UPSERT_FILE, [_file_row(conn, f, now, keys) for f in files])


def saved_files(conn: sqlite3.Connection, retired: int) -> Iterator[dict[str, Any]]:
    """The committed checkpoints (``SAVED_FIELDS`` each, oldest change first) of the files that
    still exist, and of the ``retired`` most recently retired ones (``gone``): one of those may
    have been renamed while the daemon was down, and resumes from its row.

    Row by row: a list of 20,000 rows was ~25 MB of short-lived objects at start-up, between
    which the long-lived ones were allocated, so the interpreter kept that memory for good
    (bench/bench_idle.py --restart)."""
    # One pass over the whole table at start-up: through a small page cache, or the writer's
    # connection keeps ~50 MB of it (20,000 files, bench/bench_idle.py --restart).
    (cache_size,) = conn.execute("PRAGMA cache_size").fetchone()
    conn.execute("PRAGMA cache_size=-1024")
    try:
        rows = conn.execute(
            "SELECT f.path, f.dev, f.inode, f.offset, f.head_hash, f.head_len, f.marker_hash, "
            "CASE WHEN f.deleted_at IS NULL THEN NULL ELSE f.parser_state END, "
            "COALESCE(f.parser_state, '') != '', s.session_key, f.deleted_at IS NOT NULL AS gone "
            "FROM files f "
            "LEFT JOIN sessions s ON s.id = f.session_id WHERE f.deleted_at IS NULL OR f.rowid "
            "IN (SELECT rowid FROM files WHERE deleted_at IS NOT NULL ORDER BY updated_at DESC "
            "LIMIT ?) ORDER BY f.updated_at",
            (retired,),
        )
        for row in rows:
            yield dict(zip(SAVED_FIELDS, row, strict=True))
    finally:
        conn.execute(f"PRAGMA cache_size={int(cache_size)}")


class StoredStates:
    """Parked files' parser states read back from their committed ``files`` rows when the
    files wake (collector.ingest.parked keeps them there instead of in memory).

    One read-only connection, opened on first use and closed after ``_KEEP_S`` unused seconds
    (``release_idle``): an idle daemon holds no second connection, a burst of wakes (a
    restart's backlog) opens one. Used by the reader thread only.
    """

    def __init__(self, database: str | Path) -> None:
        self._database = database
        self._conn: sqlite3.Connection | None = None
        self._used_at = 0.0

    def state_of(self, path: str) -> str | None:
        """The committed parser state (JSON text) of ``path``'s row; None without one."""
        if self._conn is None:
            self._conn = open_database(self._database, readonly=True)
            self._conn.execute("PRAGMA cache_size=-128")  # one row by primary key at a time
        self._used_at = time.monotonic()
        try:
            row = self._conn.execute(
                "SELECT parser_state FROM files WHERE path = ?", (path,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreBusyError(str(self._database), str(exc)) from exc
        return None if row is None or row[0] is None else str(row[0])

    def release_idle(self, now: float) -> None:
        """Close the connection when unused for ``_KEEP_S`` seconds."""
        if self._conn is not None and now - self._used_at > _KEEP_S:
            self.close()

    def close(self) -> None:
        """Close the connection if open; idempotent (the next ``state_of`` reopens)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


_KEEP_S = 10.0


def commit_batch(
    store: EventStore,
    records: Sequence[Record],
    files: list[FileUpdate],
    now: str,
    keys: SessionKeys,
) -> BatchResult:
    """Apply ``records`` and write ``files``' checkpoints in one ``BEGIN IMMEDIATE``
    transaction: both land or neither does (a rollback also forgets ``keys``' new ids)."""
    conn = store.connection
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = apply_records(conn, records, now, keys)
            if files:
                upsert_files(conn, files, now, keys)
                crash_point("after_offsets")
            crash_point("before_commit")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            keys.forget()
            raise
        crash_point("after_commit")
    except sqlite3.OperationalError as exc:
        raise StoreBusyError(store.path, str(exc)) from exc
    except sqlite3.Error as exc:
        raise StoreRejectedError(store.path, str(exc)) from exc
    return result


def accepts(store: EventStore, record: Record, now: str, keys: SessionKeys) -> bool:
    """Would the store take ``record``: applied inside a transaction that is rolled back."""
    conn = store.connection
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply_records(conn, [record], now, keys)
            return True
        except sqlite3.OperationalError:
            raise
        except Exception:
            return False
        finally:
            conn.execute("ROLLBACK")
            keys.forget()
    except sqlite3.OperationalError as exc:
        raise StoreBusyError(store.path, str(exc)) from exc


def set_autocheckpoint(store: EventStore, pages: int) -> None:
    """SQLite's own WAL checkpoint inside a commit once the WAL holds ``pages`` pages."""
    store.connection.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")


def shrink_memory(store: EventStore) -> bool:
    """Give the connection's page cache back; False when SQLite refused."""
    try:
        store.connection.execute("PRAGMA shrink_memory")
    except sqlite3.Error:
        return False
    return True


def file_progress(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every file's committed progress, by path (for ``status``)."""
    rows = conn.execute(
        "SELECT path, agent, offset, size AS committed_size, lines, problems, oversized, resets, "
        "deleted_at, updated_at FROM files ORDER BY path"
    )
    return [dict(row) for row in rows]


def store_counts(conn: sqlite3.Connection) -> tuple[int, int, int, str | None]:
    """(sessions, events, parse problems, the latest checkpoint's ``updated_at``)."""
    row = conn.execute(
        "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM events), "
        "(SELECT COUNT(*) FROM parse_problems), (SELECT MAX(updated_at) FROM files)"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2]), row[3]


def _file_row(
    conn: sqlite3.Connection, f: FileUpdate, now: str, keys: SessionKeys
) -> dict[str, Any]:
    cp = f.checkpoint
    session_id = keys.resolve(conn, f.session_key, now) if f.session_key else None
    return {
        "path": f.path, "agent": f.agent, "session_id": session_id, "dev": cp.get("dev"),
        "inode": cp.get("inode"), "offset": cp.get("offset", 0),
        "head_hash": cp.get("head_hash"), "head_len": cp.get("head_len"),
        "marker_hash": cp.get("marker_hash"),
        "parser_state": orjson.dumps(f.parser_state).decode() if f.parser_state else None,
        "size": f.size, "lines": f.lines, "problems": f.problems, "oversized": f.oversized,
        "resets": int(f.reset), "deleted_at": now if f.deleted else None, "now": now,
    }  # fmt: skip
