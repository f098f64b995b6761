"""The checkpointer copies committed WAL frames into the database off the writer's thread."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from collector.counters import Counters
from collector.ingest.commit.checkpointer import RESTART_FRAMES, Checkpointer
from collector.ingest.commit.writer import AUTOCHECKPOINT_PAGES, WriterThread
from store import EventStore


def _fill(store: EventStore, n: int) -> None:
    store.insert_events([
        {"session_id": "claude-code:s", "agent_event_id": f"e{i}",
         "timestamp": "2026-01-01T00:00:00.000Z", "event_type": "message",
         "tool_arguments": "x" * 500}
        for i in range(n)
    ])  # fmt: skip


def test_nudged_checkpointer_copies_the_wal_while_the_writer_keeps_its_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    store = EventStore(path, manual_checkpoint=True)
    checkpointer = Checkpointer(path, every=0.0)
    checkpointer.start()
    try:
        _fill(store, 2000)
        before = checkpointer.checkpoints
        checkpointer.nudge()
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == before:
            assert time.monotonic() < deadline, "no checkpoint within 10 s"
            time.sleep(0.01)
        assert checkpointer.last is not None
        busy, log, copied = checkpointer.last
        assert busy == 0
        assert log > 0
        assert copied == log  # everything committed before the nudge was copied
        assert checkpointer.failures == 0
        _fill(store, 10)  # the writer's connection is untouched by it
    finally:
        checkpointer.close()
        store.close()


def test_close_is_idempotent_and_stops_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    EventStore(path).close()
    checkpointer = Checkpointer(path)
    checkpointer.start()
    assert checkpointer.alive
    checkpointer.close()
    checkpointer.close()
    assert not checkpointer.alive


def test_a_failed_checkpoint_is_counted_not_fatal(tmp_path: Path) -> None:
    """The checkpoint fails once (as a locked or failing disk would make it); the thread counts
    it, stays alive, and the next nudge checkpoints. The failure is injected through a proxy of
    the real connection: SQLite offers no way to hold the checkpoint lock from a test."""
    path = tmp_path / "events.db"
    store = EventStore(path)
    _fill(store, 100)
    checkpointer = Checkpointer(path, every=0.0)
    checkpointer.start()
    real = checkpointer._conn
    assert real is not None

    class FailOnce:
        failed = False

        def execute(self, sql: str) -> sqlite3.Cursor:
            if not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("database is locked")
            return real.execute(sql)

    checkpointer._conn = FailOnce()  # type: ignore[assignment]
    try:
        deadline = time.monotonic() + 10
        checkpointer.nudge()
        while checkpointer.failures == 0:
            assert time.monotonic() < deadline, "the failure was not counted"
            time.sleep(0.01)
        checkpointer.nudge()
        while checkpointer.checkpoints == 0:
            assert time.monotonic() < deadline, "no checkpoint after the failure"
            time.sleep(0.01)
        assert checkpointer.alive
        assert checkpointer.failures == 1
    finally:
        checkpointer._conn = real
        checkpointer.close()
        store.close()


def test_a_large_wal_is_started_over_between_commits(tmp_path: Path) -> None:
    """Past ``restart_frames`` the checkpointer takes the writer's lock and restarts the WAL:
    the next commit writes from the WAL's first frame again, so the WAL stops growing."""
    path = tmp_path / "events.db"
    store = EventStore(path, manual_checkpoint=True)
    checkpointer = Checkpointer(path, every=0.0, restart_frames=10)
    checkpointer.start()
    try:
        _fill(store, 2000)
        checkpointer.nudge()
        deadline = time.monotonic() + 10
        while checkpointer.restarts == 0:
            assert time.monotonic() < deadline, "no restart within 10 s"
            time.sleep(0.01)
        assert checkpointer.last is not None
        big = checkpointer.last[1]
        assert big > 10
        with checkpointer.lock:  # as the writer does around a commit
            store.insert_events([{"session_id": "claude-code:s", "agent_event_id": "late",
                                  "timestamp": "2026-01-01T00:00:00.000Z",
                                  "event_type": "message"}])  # fmt: skip
        log = store.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        assert 0 < log < big  # the WAL started over
    finally:
        checkpointer.close()
        store.close()


def test_the_wal_starts_over_before_the_backstop_and_keeps_its_file(tmp_path: Path) -> None:
    """The thresholds the daemon runs with fit together: the checkpointer starts the WAL over
    before the writer's in-commit backstop would (so commits seldom pay a checkpoint of their own),
    and a WAL that starts over keeps a file as large as the WAL grows before that backstop (so
    the commits after a restart overwrite it instead of growing it again)."""
    path = tmp_path / "events.db"
    store = EventStore(path, manual_checkpoint=True)
    writer = WriterThread(store, Counters())
    try:
        conn = store.connection
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        limit = conn.execute("PRAGMA journal_size_limit").fetchone()[0]
        backstop = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert backstop == AUTOCHECKPOINT_PAGES
        assert writer.checkpointer.restart_frames == RESTART_FRAMES < backstop
        assert limit >= backstop * (page + 24)  # frames are a page plus a 24-byte header
    finally:
        writer.close()
        store.close()
