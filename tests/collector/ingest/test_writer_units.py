"""The writer's own small units (retry, isolation, memory release) and the isolation of a
record the real store rejects, end to end through the real writer thread and SQLite file."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from collector.counters import Counters
from collector.ingest.commit.isolation import isolate
from collector.ingest.commit.memory import MemoryRelease
from collector.ingest.commit.retry import retry_busy
from collector.ingest.commit.writer import WriterThread
from config.errors import StoreBusyError
from store import EventStore
from store.records import Chunk, Event, FileUpdate, ParseProblem, Record

KEY = "claude-code:11111111-2222-3333-4444-555555555555"


def _event(n: int, **extra: object) -> Event:
    return Event(session_id=KEY, agent_event_id=f"e{n}", event_type="message",
                 timestamp=f"2026-01-02T10:00:0{n}.000Z", source_offset=n * 10,
                 **extra)  # type: ignore[arg-type]  # fmt: skip


def test_retry_busy_waits_double_up_to_the_bound() -> None:
    """The waits between attempts double from ``first`` and stop growing at ``most``."""
    waits: list[float] = []

    class Clockless(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return len(waits) >= 5

    def attempt() -> None:
        raise StoreBusyError("db", "database is locked")

    with pytest.raises(StoreBusyError):
        retry_busy(attempt, Clockless(), lambda e: None, first=0.05, most=0.3)
    assert waits == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_retry_busy_retries_only_busy_failures() -> None:
    calls: list[int] = []
    heard: list[str] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StoreBusyError("db", "database is locked")
        return "done"

    assert retry_busy(attempt, threading.Event(), lambda e: heard.append(e.reason)) == "done"
    assert heard == ["database is locked"] * 2

    def rejected() -> str:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        retry_busy(rejected, threading.Event(), lambda e: heard.append(e.reason))
    assert len(heard) == 2  # a rejection is not retried


def test_retry_busy_gives_up_when_aborted() -> None:
    abort = threading.Event()
    abort.set()

    def attempt() -> None:
        raise StoreBusyError("db", "disk I/O error")

    with pytest.raises(StoreBusyError):
        retry_busy(attempt, abort, lambda e: None)


def test_isolate_replaces_each_rejected_record_with_a_parse_problem() -> None:
    counters = Counters()
    update = FileUpdate("/t/a.jsonl", "claude-code", KEY, {"offset": 99}, None, 99)
    done: list[int] = []
    chunk = Chunk([_event(1), _event(2), _event(3)], update, 99, lambda: done.append(1))
    cleaned = isolate(chunk, lambda r: isinstance(r, Event) and r.agent_event_id != "e2",
                      counters)  # fmt: skip
    kinds = [type(r).__name__ for r in cleaned.records]
    assert kinds == ["Event", "ParseProblem", "Event"]
    problem = cleaned.records[1]
    assert isinstance(problem, ParseProblem)
    assert (problem.source_path, problem.offset) == ("/t/a.jsonl", 20)
    assert "store rejected Event" in problem.reason
    assert cleaned.file is update
    assert cleaned.on_commit is chunk.on_commit
    assert counters.get("records_rejected") == 1


def test_memory_release_once_per_quiet_spell() -> None:
    shrunk: list[int] = []
    forgot: list[int] = []
    memory = MemoryRelease(
        lambda: shrunk.append(1) is None, after=5.0, forget=lambda: forgot.append(1)
    )
    assert not memory.idle(100.0)  # no busy spell yet
    memory.busy_until(100.0)
    assert not memory.idle(104.0)
    assert memory.idle(105.5)
    assert not memory.idle(200.0)  # once per spell
    assert shrunk == forgot == [1]


def test_writer_stores_the_rest_when_the_store_rejects_one_record(tmp_path: Path) -> None:
    """A record SQLite cannot bind (a dict where text belongs) is recorded as a parse problem;
    the other records and the file's offset are committed, and the writer keeps going."""
    counters = Counters()
    db = tmp_path / "events.db"
    update = FileUpdate(str(tmp_path / "a.jsonl"), "claude-code", KEY, {"offset": 30}, None, 30)
    bad = _event(2, tool_arguments={"not": "text"})
    committed = threading.Event()
    records: list[Record] = [_event(1), bad, _event(3)]
    with EventStore(db) as store:
        writer = WriterThread(store, counters)
        writer.start()
        try:
            writer.put(Chunk(records, update, 30, committed.set))
            assert committed.wait(10)
            writer.put(Chunk([_event(4)]))
            deadline = time.monotonic() + 10
            while counters.get("events_inserted") < 3:
                assert time.monotonic() < deadline, "the writer stopped after the rejection"
                time.sleep(0.01)
        finally:
            assert writer.close()
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT agent_event_id FROM events ORDER BY id")]
    problems = conn.execute("SELECT file_path, offset, reason FROM parse_problems").fetchall()
    offset = conn.execute("SELECT offset FROM files").fetchone()[0]
    conn.close()
    assert ids == ["e1", "e3", "e4"]
    assert problems == [(update.path, 20, "store rejected Event")]
    assert offset == 30
    assert writer.fatal is None
    assert counters.get("batch_rejected") == 1


def test_backlog_batches_grow_only_while_no_live_line_came(tmp_path: Path) -> None:
    """With agents quiet a backlog batch takes ``BACKLOG_SCALE`` times the row bound (fewer,
    larger commits); right after a live line it keeps the configured bound, and it stops
    growing as soon as a live chunk waits."""
    from collector.ingest.commit.writer import BACKLOG_SCALE

    with EventStore(tmp_path / "events.db") as store:
        writer = WriterThread(store, Counters(), batch_rows=2, flush_interval_ms=100)
        try:
            for n in range(2 * BACKLOG_SCALE + 4):
                writer.put(Chunk([_event(n % 10)], live=False), timeout=5)
            first = writer.queue.get(1.0)
            assert len(writer._gather(first)) == 2 * BACKLOG_SCALE
            writer._gather(Chunk([_event(1)]))  # a live line: backlog batches stay small now
            first = writer.queue.get(1.0)
            assert len(writer._gather(first)) == 2
            writer._last_live -= 3600  # an hour without live lines, but one is waiting
            first = writer.queue.get(1.0)
            assert not first.live
            writer.put(Chunk([_event(3)]), timeout=5)
            assert len(writer._gather(first)) == 1
        finally:
            writer.close()


def test_without_live_lines_batches_gather_both_lanes(tmp_path: Path) -> None:
    """``run --once`` expects no agent's line: a batch takes the chunks of both lanes (a
    file's tail chunk on the live lane waits for no one) up to ``ONCE_SCALE`` times the
    bounds, and waits ``ONCE_GATHER_S`` at most for more."""
    from collector.ingest.commit.writer import ONCE_GATHER_S, ONCE_SCALE

    with EventStore(tmp_path / "events.db") as store:
        writer = WriterThread(store, Counters(), batch_rows=2, flush_interval_ms=1,
                              queue_bound=4 * ONCE_SCALE, expect_live=False)  # fmt: skip
        try:
            for n in range(2 * ONCE_SCALE + 5):
                writer.put(Chunk([_event(n % 10)], live=n % 3 == 0), timeout=5)
            first = writer.queue.get(1.0)
            assert len(writer._gather(first)) == 2 * ONCE_SCALE
            first = writer.queue.get(1.0)
            started = time.monotonic()
            assert len(writer._gather(first)) == 5
            assert time.monotonic() - started >= ONCE_GATHER_S * 0.9
        finally:
            writer.close()
