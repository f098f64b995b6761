"""The schema's query plans and constraints, checked with EXPLAIN QUERY PLAN on a real file.

Each of the seed's query paths must SEARCH an index; a ``SCAN events`` (every row read) would
make the dashboards' queries grow with the whole history instead of with the answer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store import EventStore
from store.batch import INSERT_EVENT

# The completion statements, as store/batch.py runs them.
from store.completions import _COMPLETE as COMPLETE_SQL
from store.completions import _COMPLETE_BATCH as COMPLETE_BATCH_SQL
from store.completions import _HAS_SHARED_CALL_IDS as HAS_SHARED_CALL_IDS_SQL
from store.completions import _PARK_UNMATCHED as PARK_SQL
from store.cross_session import _INHERIT as INHERIT_SQL

KEY = "claude-code:plan"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.db") as opened:
        rows = []
        for n in range(200):
            kind = ("file_op", "command", "message", "usage")[n % 4]
            rows.append(
                {
                    "session_id": f"{KEY}-{n % 3}",
                    "agent_event_id": f"e{n}",
                    "timestamp": f"2025-11-14T10:{n // 60:02d}:{n % 60:02d}.000Z",
                    "event_type": kind,
                    "tool_call_id": f"t{n}" if n % 4 < 2 else None,
                    "file_path": f"/src/f{n % 7}.py" if kind == "file_op" else None,
                    "operation": "read" if kind == "file_op" else None,
                    "command": "pytest" if kind == "command" else None,
                    "command_category": "test" if kind == "command" else None,
                }
            )
        opened.insert_events(rows)
        yield opened


def open_descriptors() -> int | None:
    """How many descriptors the process has open (None where /proc is not available)."""
    fd_dir = Path("/proc/self/fd")
    return len(list(fd_dir.iterdir())) if fd_dir.exists() else None


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves the process with the descriptors and threads it started with."""
    fds, threads = open_descriptors(), set(threading.enumerate())
    yield
    assert open_descriptors() == fds
    assert set(threading.enumerate()) <= threads


def plan(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[str]:
    """The detail column of each EXPLAIN QUERY PLAN row."""
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def assert_searches(steps: list[str], index: str) -> None:
    """The plan SEARCHes events with ``index`` and never SCANs the events table."""
    joined = "\n".join(steps)
    assert not any(step.startswith("SCAN events") for step in steps), joined
    assert any(step.startswith("SEARCH events") and index in step for step in steps), joined


class TestQueryPlans:
    """Every seed query path is index-backed."""

    def test_session_and_time_range(self, store: EventStore) -> None:
        """get_events(session, since, until): idx_events_session_time on both columns."""
        sql = (
            "SELECT * FROM events WHERE session_id = ? AND timestamp >= ? AND timestamp <= ? "
            "ORDER BY timestamp, id LIMIT ? OFFSET ?"
        )
        steps = plan(store.connection, sql, (1, "2025-11-14", "2025-11-15", -1, 0))
        assert_searches(steps, "idx_events_session_time")
        assert any("timestamp>" in step for step in steps), steps

    def test_by_file_path(self, store: EventStore) -> None:
        """get_events(file_path=…): the partial index idx_events_file."""
        sql = "SELECT * FROM events WHERE file_path = ? ORDER BY timestamp, id LIMIT ? OFFSET ?"
        assert_searches(plan(store.connection, sql, ("/src/f1.py", -1, 0)), "idx_events_file")

    def test_by_command_category(self, store: EventStore) -> None:
        """get_events(command_category=…): the partial index idx_events_category."""
        sql = (
            "SELECT * FROM events WHERE command_category = ? ORDER BY timestamp, id "
            "LIMIT ? OFFSET ?"
        )
        assert_searches(plan(store.connection, sql, ("test", -1, 0)), "idx_events_category")

    def test_by_event_type(self, store: EventStore) -> None:
        """get_events(event_type=…): idx_events_type."""
        sql = "SELECT * FROM events WHERE event_type = ? ORDER BY timestamp, id LIMIT ? OFFSET ?"
        assert_searches(plan(store.connection, sql, ("usage", -1, 0)), "idx_events_type")

    def test_completion_update(self, store: EventStore) -> None:
        """The ToolResult UPDATE finds a call whose key is its call id (Claude's) by the natural
        key, any other by (session_id, tool_call_id), and the rows by rowid: no scan."""
        params = {
            "status": "success",
            "exit_code": None,
            "duration_ms": None,
            "timestamp": "2025-11-14T10:00:00.000Z",
            "session_id": 1,
            "tool_call_id": "t1",
        }
        steps = plan(store.connection, COMPLETE_SQL, params)
        assert_searches(steps, "idx_events_tool_call")
        assert any("session_id=? AND tool_call_id=?" in step for step in steps), steps
        assert_searches(steps, "sqlite_autoindex_events_1")
        assert any("session_id=? AND agent_event_id=?" in step for step in steps), steps
        assert any("INTEGER PRIMARY KEY (rowid=?)" in step for step in steps), steps

    @staticmethod
    def _finds_calls_by_both_indexes(store: EventStore, sql: str) -> list[str]:
        """The plan of ``sql`` over the batch's results: no scan of events, and each result
        finds its calls by the tool-call index and by the natural key."""
        store.connection.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_results (session_id INTEGER, tool_call_id "
            "TEXT, timestamp TEXT, status TEXT, duration_ms INTEGER, exit_code INTEGER)"
        )
        steps = plan(store.connection, sql, ())
        assert not any(step.startswith(("SCAN e", "SCAN events")) for step in steps), steps
        by_call = "SEARCH e USING INDEX idx_events_tool_call (session_id=? AND tool_call_id=?)"
        assert by_call in steps, steps
        assert (
            "SEARCH e USING INDEX sqlite_autoindex_events_1 (session_id=? AND agent_event_id=?)"
            in steps
        ), steps
        return steps

    def test_unmatched_results_check(self, store: EventStore) -> None:
        """Parking a result looks for its call by both indexes, never by a scan of events."""
        self._finds_calls_by_both_indexes(store, PARK_SQL)

    def test_batch_completion(self, store: EventStore) -> None:
        """The batch's completions in one statement: each result (outermost) finds its calls by
        both indexes, and the rows are updated by rowid; events is never scanned."""
        steps = self._finds_calls_by_both_indexes(store, COMPLETE_BATCH_SQL)
        assert "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)" in steps, steps

    def test_folded_call_finder(self, store: EventStore) -> None:
        """Before folding results into a session's calls the writer asks whether the session
        has calls found by idx_events_tool_call: a SEARCH of that partial index."""
        steps = plan(store.connection, HAS_SHARED_CALL_IDS_SQL, (1,))
        assert_searches(steps, "idx_events_tool_call")

    def test_parent_facts_by_key_and_parent(self, store: EventStore) -> None:
        """Children take their parent's facts for the sessions of a batch: found by key and by
        the parent index, never by a scan of the store's sessions."""
        steps = plan(store.connection, INHERIT_SQL.format(marks="?, ?"), ("a", "b") * 2)
        assert not any(step.startswith("SCAN") for step in steps), steps
        assert any("idx_sessions_parent (parent_session_id=?)" in step for step in steps), steps

    def test_natural_key_lookup(self, store: EventStore) -> None:
        """(session_id, agent_event_id) is a unique index: the conflict check is a SEARCH."""
        sql = "SELECT id FROM events WHERE session_id = ? AND agent_event_id = ?"
        steps = plan(store.connection, sql, (1, "e1"))
        assert_searches(steps, "sqlite_autoindex_events_1")
        assert any("session_id=? AND agent_event_id=?" in step for step in steps), steps

    def test_natural_key_is_the_conflict_target(self, store: EventStore) -> None:
        """INSERT_EVENT's ON CONFLICT target is the unique natural key (it prepares fine)."""
        assert plan(store.connection, INSERT_EVENT, (1,) * INSERT_EVENT.count("?")) == []

    def test_by_agent_event_id_in_session(self, store: EventStore) -> None:
        """get_event_by_agent_id with a session uses the natural-key index."""
        sql = "SELECT * FROM events WHERE agent_event_id = ? AND session_id = ? ORDER BY id LIMIT 1"
        assert_searches(plan(store.connection, sql, ("e1", 1)), "sqlite_autoindex_events_1")

    @pytest.mark.parametrize("view", ["file_activity", "command_stats"])
    def test_view_by_session(self, store: EventStore, view: str) -> None:
        """A view filtered by session is index-backed (no full SCAN of events)."""
        steps = plan(store.connection, f"SELECT * FROM {view} WHERE session_id = ?", (1,))
        assert not any(step.startswith("SCAN events") for step in steps), steps
        assert any(step.startswith("SEARCH events USING") for step in steps), steps

    @pytest.mark.parametrize("view", ["file_activity", "command_stats"])
    def test_view_by_session_is_bounded_by_session(self, store: EventStore, view: str) -> None:
        """A view filtered by session reads only that session's rows (session_id=? in the
        index search)."""
        steps = plan(store.connection, f"SELECT * FROM {view} WHERE session_id = ?", (1,))
        assert any(step.startswith("SEARCH events") and "session_id=?" in step for step in steps), (
            steps
        )

    def test_sessions_by_key(self, store: EventStore) -> None:
        """get_session by key uses the unique session_key index."""
        steps = plan(store.connection, "SELECT * FROM sessions WHERE session_key = ?", (KEY,))
        assert any(step.startswith("SEARCH sessions") for step in steps), steps


class TestConstraints:
    """Foreign keys and uniqueness."""

    def test_delete_session_cascades(self, store: EventStore) -> None:
        """Deleting a session deletes its events and only its events."""
        conn = store.connection
        victim = conn.execute("SELECT id FROM sessions WHERE session_key = ?", (f"{KEY}-0",))
        victim_id = victim.fetchone()[0]
        before = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        mine = conn.execute(
            "SELECT COUNT(*) FROM events WHERE session_id = ?", (victim_id,)
        ).fetchone()[0]
        assert mine > 0
        conn.execute("DELETE FROM sessions WHERE id = ?", (victim_id,))
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM events WHERE session_id = ?", (victim_id,)
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == before - mine

    def test_delete_parent_keeps_child(self, store: EventStore) -> None:
        """Deleting a parent session leaves its subagent session with parent_session_id NULL."""
        parent = store.create_session(session_key="registered:parent")
        child = store.create_session(parent_session_id=parent["id"])
        store.connection.execute("DELETE FROM sessions WHERE id = ?", (parent["id"],))
        reloaded = store.get_session(child["id"])
        assert reloaded is not None
        assert reloaded["parent_session_id"] is None

    def test_event_needs_session(self, store: EventStore) -> None:
        """An event row naming no session is refused by the foreign key."""
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store.connection.execute(
                "INSERT INTO events (session_id, agent_event_id, timestamp, event_type, "
                "created_at) VALUES (99999, 'x', 't', 'message', 't')"
            )

    def test_natural_key_unique(self, store: EventStore) -> None:
        """A plain INSERT of an existing (session_id, agent_event_id) fails."""
        conn = store.connection
        row = conn.execute("SELECT session_id, agent_event_id FROM events LIMIT 1").fetchone()
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "INSERT INTO events (session_id, agent_event_id, timestamp, event_type, "
                "created_at) VALUES (?, ?, 't', 'message', 't')",
                (row[0], row[1]),
            )
