"""SQLite's errors reach callers outside store/ as the exception tree's: an operational failure
as StoreBusyError (retry later), anything else as StoreRejectedError. Real database files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from config.errors import StoreBusyError, StoreRejectedError
from store import EventStore
from store.batch import SessionKeys
from store.checkpoints import commit_batch
from store.reads import dashboard as reads
from store.records import Event


def test_a_locked_database_is_busy_for_a_reader(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    EventStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")  # a rollback journal: a writer locks readers out
    holder.execute("BEGIN EXCLUSIVE")
    reader = sqlite3.connect(db, timeout=0)
    try:
        with pytest.raises(StoreBusyError, match="locked"):
            reads.max_event_id(reader)
    finally:
        reader.close()
        holder.execute("ROLLBACK")
        holder.close()


def test_a_closed_connection_is_rejected(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.close()
    with pytest.raises(StoreRejectedError, match="closed"):
        reads.data_version(conn)


def test_commit_batch_rejects_an_unbindable_record_and_rolls_back(tmp_path: Path) -> None:
    """The whole transaction is rolled back: not even the good event before it lands."""
    key = "claude-code:11111111-2222-3333-4444-555555555555"
    good = Event(key, "e1", "2026-01-02T10:00:00.000Z", "message")
    bad = Event(key, "e2", "2026-01-02T10:00:01.000Z", "message",
                tool_arguments={"not": "text"})  # type: ignore[arg-type]  # fmt: skip
    with EventStore(tmp_path / "events.db") as store:
        with pytest.raises(StoreRejectedError):
            commit_batch(store, [good, bad], [], "2026-01-02T10:00:02.000Z", SessionKeys())
        assert store.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert not store.connection.in_transaction
