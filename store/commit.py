"""The writer's transaction: records and their files' checkpoints, committed together.

Everything the writer thread asks of SQLite is here, so the writer itself deals only in the
exception tree: ``StoreBusyError`` (locked, busy, disk full, read-only, I/O) means "nothing was
written, try again later, advance no offset"; any other error means the store refused the data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from config.errors import StoreBusyError
from store.batch import BatchResult, SessionKeys, apply_records
from store.checkpoints import upsert_files
from store.crashpoint import crash_point
from store.event_store import EventStore
from store.records import FileUpdate, Record

__all__ = ["accepts", "commit_batch", "set_autocheckpoint", "shrink_memory"]


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
