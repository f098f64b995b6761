"""The local change feed of sinks: triggers only while a sink is enabled, new rows by cursor,
in-place updates through the outbox in commit order, the cursor and outbox after shipping, and
the lag. Real SQLite files; batches written as the writer writes them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import EventStore, sink_local
from store.batch import SessionKeys, apply_records
from store.records import Event, SessionStatus, ToolResult

NOW = "2026-01-02T10:00:00.000Z"
KEY = "claude-code:11111111-2222-3333-4444-555555555555"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.db") as opened:
        yield opened


def write(store: EventStore, records: list[object]) -> None:
    conn = store.connection
    conn.execute("BEGIN IMMEDIATE")
    apply_records(conn, records, NOW, SessionKeys())  # type: ignore[arg-type]
    conn.execute("COMMIT")


def call(n: int) -> Event:
    return Event(
        session_id=KEY, agent_event_id=f"call-{n}", timestamp=f"2026-01-02T10:00:0{n}.000Z",
        event_type="command", tool_name="Bash", tool_call_id=f"t{n}", command="ls",
        command_category="filesystem", status="pending", raw_data='{"secret": 1}',
    )  # fmt: skip


def done(n: int) -> ToolResult:
    return ToolResult(session_id=KEY, tool_call_id=f"t{n}",
                      timestamp=f"2026-01-02T10:00:0{n + 1}.000Z", status="success")  # fmt: skip


def triggers(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]


def test_no_triggers_without_a_sink(store: EventStore) -> None:
    """A fresh store has no feed triggers and logs nothing when rows change."""
    write(store, [call(1)])
    write(store, [done(1)])
    assert triggers(store.connection) == []
    assert store.connection.execute("SELECT COUNT(*) FROM sink_changes").fetchone()[0] == 0


def test_new_rows_then_updates_in_commit_order(store: EventStore) -> None:
    """New events come by cursor; a completion after shipping comes back through the outbox
    with the row as it is now; raw_data is withheld unless asked for."""
    conn = store.connection
    assert sink_local.install_feed(conn, ["pg"]) is True
    write(store, [call(1), call(2)])
    first = sink_local.read_pending(conn, "pg", 100)
    assert [e[3] for e in first.events] == ["call-1", "call-2"]
    assert [s[1] for s in first.sessions] == [KEY]
    assert {e[24] for e in first.events} == {None}  # raw_data
    sink_local.advance(conn, "pg", first)
    assert sink_local.read_lag(conn, "pg").rows == 0
    write(store, [done(1)])
    lag = sink_local.read_lag(conn, "pg")
    assert lag.rows == 1
    assert lag.oldest is not None
    second = sink_local.read_pending(conn, "pg", 100, include_raw=True)
    assert [(e[3], e[14]) for e in second.events] == [("call-1", "success")]
    assert second.events[0][24] == '{"secret": 1}'
    sink_local.advance(conn, "pg", second)
    assert not sink_local.read_pending(conn, "pg", 100).moved
    # The outbox keeps only its newest row, so seq never restarts below the cursor.
    assert conn.execute("SELECT COUNT(*) FROM sink_changes").fetchone()[0] == 1


def test_status_change_reaches_the_feed(store: EventStore) -> None:
    """A tracker verdict changes the session row (status, ended_at) and adds an event."""
    conn = store.connection
    sink_local.install_feed(conn, ["pg"])
    write(store, [call(1)])
    sink_local.advance(conn, "pg", sink_local.read_pending(conn, "pg", 100))
    write(store, [SessionStatus(session_id=KEY, status="completed", timestamp=NOW, reason="x",
                                ended_at=NOW)])  # fmt: skip
    pending = sink_local.read_pending(conn, "pg", 100)
    assert [(s[8], s[16]) for s in pending.sessions] == [("completed", NOW)]
    assert [e[6] for e in pending.events] == ["status_change"]


def test_limit_splits_batches_without_loss(store: EventStore) -> None:
    """Small batches ship everything exactly once, in id order."""
    conn = store.connection
    sink_local.install_feed(conn, ["pg"])
    write(store, [call(n) for n in range(1, 8)])
    seen: list[str] = []
    while (batch := sink_local.read_pending(conn, "pg", 3)).moved:
        seen += [e[3] for e in batch.events]
        sink_local.advance(conn, "pg", batch)
    assert seen == [f"call-{n}" for n in range(1, 8)]


def test_unadvanced_batch_is_read_again(store: EventStore) -> None:
    """A batch whose remote commit was never confirmed (a crash) is read again whole."""
    conn = store.connection
    sink_local.install_feed(conn, ["pg"])
    write(store, [call(1)])
    once = sink_local.read_pending(conn, "pg", 100)
    again = sink_local.read_pending(conn, "pg", 100)
    assert once == again


def test_reinstall_starts_over(store: EventStore) -> None:
    """Removing the feed (sink disabled) and installing it again re-ships everything, since
    updates made meanwhile were not logged."""
    conn = store.connection
    sink_local.install_feed(conn, ["pg"])
    write(store, [call(1)])
    sink_local.advance(conn, "pg", sink_local.read_pending(conn, "pg", 100))
    sink_local.remove_feed(conn)
    assert triggers(conn) == []
    assert sink_local.read_lags(conn) == {}  # status shows no sink once it is disabled
    write(store, [done(1)])
    assert sink_local.install_feed(conn, ["pg"]) is True
    assert sink_local.install_feed(conn, ["pg"]) is False
    pending = sink_local.read_pending(conn, "pg", 100)
    assert [(e[3], e[14]) for e in pending.events] == [("call-1", "success")]
    assert [s[1] for s in pending.sessions] == [KEY]
