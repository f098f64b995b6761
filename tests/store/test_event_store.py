"""Tests for store.EventStore and store.batch.apply_records on real SQLite files in tmp_path.

A second ``sqlite3`` connection checks what other processes can see; the writer-thread test
uses a real thread and polls with a deadline instead of sleeping.
"""

from __future__ import annotations

import contextlib
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.errors import StoreError
from store import CURRENT_VERSION, EventStore
from store.batch import BatchResult, SessionKeys, apply_records
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult, ToolWait
from store.timestamps import format_timestamp

BASE = datetime(2025, 11, 14, 10, 0, 0, tzinfo=UTC)
NOW = "2025-11-14T12:00:00.000Z"
KEY = "claude-code:11111111-2222-3333-4444-555555555555"
CONTRACT_LEN = len("2025-11-14T10:00:00.000Z")


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A second, autocommit connection, closed on exit (``with sqlite3.connect`` only commits)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


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


def ts(seconds: float = 0) -> str:
    """The contract form of BASE + ``seconds``."""
    return format_timestamp(BASE + timedelta(seconds=seconds))


def event(session: str | int, n: int, **fields: Any) -> dict[str, Any]:
    """An event mapping for ``insert_event(s)``: id ``e<n>`` at BASE + n seconds."""
    values: dict[str, Any] = {
        "session_id": session,
        "agent_event_id": f"e{n}",
        "timestamp": ts(n),
        "event_type": "message",
    }
    values.update(fields)
    return values


def call(
    n: int, call_id: str, *, session: str = KEY, event_type: str = "command", at: float = 0
) -> Event:
    """A pending tool-call Event as a parser emits it."""
    return Event(
        session_id=session,
        agent_event_id=f"call-{n}",
        timestamp=ts(at),
        event_type=event_type,
        tool_name="Bash",
        tool_call_id=call_id,
        command="pytest -q",
        command_category="test",
        status="pending",
    )


def write(store: EventStore, records: Sequence[Record], now: str = NOW) -> BatchResult:
    """Apply ``records`` as the writer thread does: one BEGIN IMMEDIATE … COMMIT."""
    conn = store.connection
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = apply_records(conn, records, now, SessionKeys())
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def count(path: Path, table: str = "events") -> int:
    """Rows in ``table`` as a separate connection sees them."""
    with connect(path) as other:
        return int(other.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[EventStore]:
    with EventStore(db_path) as opened:
        yield opened


class TestInitialisation:
    """A new database: schema, pragmas, version and file permissions."""

    def test_tables_and_views(self, store: EventStore) -> None:
        """The tables and both views of the schema exist."""
        rows = store.connection.execute("SELECT type, name FROM sqlite_master").fetchall()
        tables = {name for kind, name in rows if kind == "table"}
        views = {name for kind, name in rows if kind == "view"}
        assert {"sessions", "events", "pending_results", "files", "parse_problems"} <= tables
        assert "schema_version" in tables
        assert views == {"file_activity", "command_stats", "usage_daily"}

    def test_wal(self, store: EventStore, db_path: Path) -> None:
        """The journal is WAL, also for a fresh connection (it is persistent in the file)."""
        assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with connect(db_path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_foreign_keys_on(self, store: EventStore) -> None:
        """Foreign keys are enforced on the store's connection."""
        assert store.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1

    def test_busy_timeout(self, store: EventStore) -> None:
        """A lock held by another connection is waited for (5 s by default)."""
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 5000

    def test_schema_version(self, store: EventStore, db_path: Path) -> None:
        """schema_version holds CURRENT_VERSION."""
        assert CURRENT_VERSION >= 2
        with connect(db_path) as other:
            assert other.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == (
                CURRENT_VERSION
            )

    def test_reopen_keeps_data_and_version(self, db_path: Path) -> None:
        """Opening an existing current database changes nothing and adds no version row."""
        with EventStore(db_path) as first:
            first.create_session(session_key="registered:a")
        with EventStore(db_path) as second:
            assert second.get_session("registered:a") is not None
        assert count(db_path, "schema_version") == 1

    def test_new_nested_folder_permissions(self, tmp_path: Path) -> None:
        """A new folder is created 0700, the file 0600, and the -wal/-shm files follow it."""
        path = tmp_path / "new" / "nested" / "events.db"
        with EventStore(path) as created:
            created.create_session()
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                assert stat.S_IMODE(side.stat().st_mode) == 0o600, suffix

    def test_existing_folder_mode_untouched(self, tmp_path: Path) -> None:
        """An existing folder keeps its mode: we only set the mode of folders we create."""
        tmp_path.chmod(0o755)
        with EventStore(tmp_path / "events.db"):
            pass
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


class TestCreateSession:
    """create_session."""

    def test_defaults(self, store: EventStore) -> None:
        """Without fields: a 'registered:<uuid>' key, agent unknown, status unknown, times set."""
        session = store.create_session()
        assert isinstance(session["id"], int)
        assert session["session_key"].startswith("registered:")
        assert len(session["session_key"]) == len("registered:") + 36
        assert session["agent"] == "unknown"
        assert session["status"] == "unknown"
        assert session["importance"] == "normal"
        for name in ("spawned_at", "created_at", "updated_at"):
            assert len(session[name]) == CONTRACT_LEN
            assert session[name].endswith("Z")

    def test_fields_stored(self, store: EventStore) -> None:
        """Given fields are stored; time fields are normalised."""
        session = store.create_session(
            session_key="codex:abc",
            agent="codex",
            project_dir="/home/u/proj",
            task_file="/home/u/proj/TASK.md",
            spawned_by="tmux",
            status="running",
            importance="high",
            pid=4242,
            spawned_at="2025-11-14T12:00:00+02:00",
        )
        assert session["session_key"] == "codex:abc"
        assert session["agent"] == "codex"
        assert session["project_dir"] == "/home/u/proj"
        assert session["task_file"] == "/home/u/proj/TASK.md"
        assert session["spawned_by"] == "tmux"
        assert session["status"] == "running"
        assert session["importance"] == "high"
        assert session["pid"] == 4242
        assert session["spawned_at"] == "2025-11-14T10:00:00.000Z"

    def test_two_default_keys_differ(self, store: EventStore) -> None:
        """Each call without a key gets a new session."""
        assert store.create_session()["id"] != store.create_session()["id"]

    def test_parent_by_key(self, store: EventStore) -> None:
        """parent_session_id given as a session key is stored as the parent's integer id."""
        parent = store.create_session(session_key="claude-code:parent")
        child = store.create_session(parent_session_id="claude-code:parent")
        assert child["parent_session_id"] == parent["id"]

    def test_duplicate_key_fails(self, store: EventStore) -> None:
        """A second session with the same key is refused (session_key is unique)."""
        store.create_session(session_key="registered:dup")
        with pytest.raises(sqlite3.IntegrityError):
            store.create_session(session_key="registered:dup")
        assert len(store.list_sessions()) == 1

    def test_unknown_field(self, store: EventStore) -> None:
        """An unknown field raises ValueError naming it."""
        with pytest.raises(ValueError, match="colour"):
            store.create_session(colour="blue")

    def test_invalid_status(self, store: EventStore) -> None:
        """A status outside the contract's values raises ValueError naming the value."""
        with pytest.raises(ValueError, match="'active'"):
            store.create_session(status="active")
        assert store.list_sessions() == []


class TestUpdateSession:
    """update_session."""

    def test_by_id_and_by_key(self, store: EventStore) -> None:
        """A session can be updated by integer id or by session key."""
        session = store.create_session(session_key="registered:u")
        by_id = store.update_session(session["id"], status="running", pid=7)
        assert by_id is not None
        assert by_id["status"] == "running"
        assert by_id["pid"] == 7
        by_key = store.update_session("registered:u", status="completed", importance="low")
        assert by_key is not None
        assert by_key["status"] == "completed"
        assert by_key["importance"] == "low"
        assert by_key["pid"] == 7

    def test_time_fields_normalised(self, store: EventStore) -> None:
        """Time fields given as offsets, epoch ms or datetimes are stored in contract form."""
        session = store.create_session()
        updated = store.update_session(
            session["id"],
            last_activity="2025-11-14T12:00:00+02:00",
            ended_at=1_763_114_400_000,
            pid_started_at=BASE,
        )
        assert updated is not None
        assert updated["last_activity"] == "2025-11-14T10:00:00.000Z"
        assert updated["ended_at"] == "2025-11-14T10:00:00.000Z"
        assert updated["pid_started_at"] == "2025-11-14T10:00:00.000Z"

    def test_updated_at_moves(self, store: EventStore) -> None:
        """updated_at is refreshed on update and created_at is not."""
        session = store.create_session(session_key="registered:t")
        store.connection.execute(
            "UPDATE sessions SET updated_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
            (session["id"],),
        )
        updated = store.update_session(session["id"], title="x")
        assert updated is not None
        assert updated["updated_at"] > "2000-01-01T00:00:00.000Z"
        assert updated["created_at"] == session["created_at"]

    def test_no_fields_is_a_read(self, store: EventStore) -> None:
        """An update without fields returns the session unchanged."""
        session = store.create_session()
        assert store.update_session(session["id"]) == session

    def test_unknown_session(self, store: EventStore) -> None:
        """Updating a session that does not exist returns None and creates nothing."""
        assert store.update_session("registered:missing", status="running") is None
        assert store.update_session(999, status="running") is None
        assert store.list_sessions() == []

    def test_unknown_key(self, store: EventStore) -> None:
        """An unknown update key raises ValueError naming the key."""
        session = store.create_session()
        with pytest.raises(ValueError, match="no_such_column"):
            store.update_session(session["id"], no_such_column=1)

    def test_session_key_not_updatable(self, store: EventStore) -> None:
        """The session key is the identity, not an updatable field."""
        session = store.create_session()
        with pytest.raises(ValueError, match="session_key"):
            store.update_session(session["id"], session_key="registered:other")

    def test_invalid_status(self, store: EventStore) -> None:
        """An invalid status raises ValueError and leaves the row as it was."""
        session = store.create_session(status="running")
        with pytest.raises(ValueError, match="'bogus'"):
            store.update_session(session["id"], status="bogus")
        assert store.get_session(session["id"]) == session

    def test_check_constraint_backs_validation(self, store: EventStore) -> None:
        """The schema refuses an invalid status even when written with raw SQL."""
        session = store.create_session()
        with pytest.raises(sqlite3.IntegrityError):
            store.connection.execute(
                "UPDATE sessions SET status = 'bogus' WHERE id = ?", (session["id"],)
            )


class TestGetAndListSessions:
    """get_session and list_sessions with each filter and combinations."""

    @pytest.fixture
    def sessions(self, store: EventStore) -> dict[str, int]:
        table = [  # (name, status, importance, project_dir, agent, activity seconds)
            ("a", "running", "high", "/p1", "claude-code", 0),
            ("b", "running", "normal", "/p2", "codex", 100),
            ("c", "completed", "high", "/p1", "codex", 200),
            ("d", "idle", "low", "/p2", "gemini", 300),
        ]
        specs = {
            name: {
                "status": status,
                "importance": importance,
                "project_dir": project,
                "agent": agent,
                "last_activity": ts(seconds),
            }
            for name, status, importance, project, agent, seconds in table
        }
        return {
            name: store.create_session(session_key=f"registered:{name}", **fields)["id"]
            for name, fields in specs.items()
        }

    @staticmethod
    def names(rows: list[dict[str, Any]]) -> list[str]:
        return [row["session_key"].removeprefix("registered:") for row in rows]

    def test_get_by_id_and_key(self, store: EventStore, sessions: dict[str, int]) -> None:
        """get_session accepts the integer id and the text key and returns the same row."""
        by_id = store.get_session(sessions["a"])
        assert by_id is not None
        assert by_id == store.get_session("registered:a")

    def test_get_missing(self, store: EventStore, sessions: dict[str, int]) -> None:
        """A missing id or key gives None."""
        assert store.get_session(10_000) is None
        assert store.get_session("registered:zzz") is None

    def test_all_newest_first(self, store: EventStore, sessions: dict[str, int]) -> None:
        """Without filters: every session, newest activity first."""
        assert self.names(store.list_sessions()) == ["d", "c", "b", "a"]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"status": "running"}, ["b", "a"]),
            ({"status": "crashed"}, []),
            ({"importance": "high"}, ["c", "a"]),
            ({"project_dir": "/p2"}, ["d", "b"]),
            ({"agent": "codex"}, ["c", "b"]),
            ({"since": ts(200)}, ["d", "c"]),
            ({"since": "2025-11-14T12:03:20+02:00"}, ["d", "c"]),
            ({"since": BASE + timedelta(seconds=150)}, ["d", "c"]),
            ({"status": "running", "agent": "codex"}, ["b"]),
            ({"importance": "high", "project_dir": "/p1", "since": ts(1)}, ["c"]),
            ({"status": "running", "importance": "high", "agent": "codex"}, []),
            ({"status": None, "agent": None}, ["d", "c", "b", "a"]),
        ],
    )
    def test_filters(
        self,
        store: EventStore,
        sessions: dict[str, int],
        filters: dict[str, Any],
        expected: list[str],
    ) -> None:
        """Each filter alone and in combination (None means no filter)."""
        assert self.names(store.list_sessions(**filters)) == expected

    def test_since_falls_back_to_created_at(self, store: EventStore) -> None:
        """A session without activity is filtered by its creation time."""
        store.create_session(session_key="registered:new")
        assert self.names(store.list_sessions(since="2000-01-01T00:00:00Z")) == ["new"]
        assert store.list_sessions(since="2999-01-01T00:00:00Z") == []

    def test_unknown_filter(self, store: EventStore) -> None:
        """An unknown filter raises ValueError naming it."""
        with pytest.raises(ValueError, match="colour"):
            store.list_sessions(colour="red")

    def test_bad_since(self, store: EventStore) -> None:
        """A since that is not a time raises ValueError naming the filter."""
        with pytest.raises(ValueError, match="since"):
            store.list_sessions(since="last tuesday")

    def test_values_are_bound(self, store: EventStore, sessions: dict[str, int]) -> None:
        """A filter value that looks like SQL is a value: it matches nothing, breaks nothing."""
        for name in ("status", "importance", "project_dir", "agent"):
            assert store.list_sessions(**{name: "x' OR 1=1 --"}) == []
        assert store.get_session("x' OR 1=1 --") is None
        assert len(store.list_sessions()) == 4


class TestInsertEvent:
    """insert_event / insert_events with mappings and Event values."""

    def test_insert_mapping(self, store: EventStore) -> None:
        """A mapping is stored with its fields; the session is created from the key."""
        assert store.insert_event(event(KEY, 1, tool_name="Read", status="success")) is True
        [row] = store.get_events(KEY)
        assert row["agent_event_id"] == "e1"
        assert row["timestamp"] == ts(1)
        assert row["tool_name"] == "Read"
        assert row["status"] == "success"
        assert row["source"] == "transcript"
        session = store.get_session(KEY)
        assert session is not None
        assert row["session_id"] == session["id"]
        assert session["agent"] == "claude-code"

    def test_insert_with_integer_session(self, store: EventStore) -> None:
        """A mapping may name its session by integer id."""
        session = store.create_session(session_key="registered:int")
        assert store.insert_event(event(session["id"], 1))
        assert [e["agent_event_id"] for e in store.get_events(session["id"])] == ["e1"]

    def test_insert_unknown_integer_session(self, store: EventStore) -> None:
        """An integer id that names no session raises ValueError."""
        with pytest.raises(ValueError, match="12345"):
            store.insert_event(event(12345, 1))

    def test_insert_event_dataclass(self, store: EventStore) -> None:
        """An Event record is stored as it is."""
        assert store.insert_event(call(1, "t1", at=5))
        [row] = store.get_events(KEY)
        assert row["event_type"] == "command"
        assert row["tool_call_id"] == "t1"
        assert row["command_category"] == "test"
        assert row["status"] == "pending"

    def test_missing_agent_event_id_gets_one(self, store: EventStore) -> None:
        """Without agent_event_id a unique id is generated: two inserts make two rows."""
        first = event(KEY, 1)
        del first["agent_event_id"]
        assert store.insert_event(first)
        assert store.insert_event(dict(first))
        assert len(store.get_events(KEY)) == 2

    @pytest.mark.parametrize("missing", ["session_id", "event_type"])
    def test_required_fields(self, store: EventStore, missing: str) -> None:
        """session_id and event_type are required; the error names the field."""
        values = event(KEY, 1)
        values[missing] = None
        with pytest.raises(ValueError, match=missing):
            store.insert_event(values)

    def test_bad_timestamp(self, store: EventStore) -> None:
        """A timestamp that is not a time raises ValueError and stores nothing."""
        with pytest.raises(ValueError, match="timestamp"):
            store.insert_event(event(KEY, 1, timestamp="soon"))
        assert count(Path(store.path)) == 0

    def test_unknown_event_field(self, store: EventStore) -> None:
        """An unknown event field raises ValueError naming it."""
        with pytest.raises(ValueError, match="colour"):
            store.insert_event(event(KEY, 1, colour="red"))

    def test_failed_batch_stores_nothing(self, store: EventStore) -> None:
        """insert_events is one transaction: a bad event in the middle rolls back the batch."""
        good = [event(KEY, n) for n in range(5)]
        with pytest.raises(ValueError, match="timestamp"):
            store.insert_events([*good, event(KEY, 9, timestamp="never"), event(KEY, 10)])
        assert count(Path(store.path)) == 0
        assert store.insert_events(good) == 5


class TestBatchTransaction:
    """A batch of 1000 events is one transaction: all visible at COMMIT, none before."""

    def test_apply_records_invisible_until_commit(self, store: EventStore, db_path: Path) -> None:
        """A second connection sees none of 1000 events until the writer commits."""
        records: list[Record] = [
            SessionInfo(session_id=KEY, agent="claude-code", transcript_path="/t/a.jsonl")
        ]
        records += [
            Event(session_id=KEY, agent_event_id=f"e{n}", timestamp=ts(n), event_type="message")
            for n in range(1000)
        ]
        conn = store.connection
        with connect(db_path) as reader:
            conn.execute("BEGIN IMMEDIATE")
            result = apply_records(conn, records, NOW, SessionKeys())
            assert result.events_inserted == 1000
            assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
            assert reader.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
            conn.execute("COMMIT")
            assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1000
            assert reader.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1

    def test_rollback_leaves_nothing(self, store: EventStore, db_path: Path) -> None:
        """A rolled-back batch leaves neither events nor the sessions it created."""
        conn = store.connection
        conn.execute("BEGIN IMMEDIATE")
        apply_records(conn, [call(n, f"t{n}") for n in range(1000)], NOW, SessionKeys())
        conn.execute("ROLLBACK")
        assert count(db_path) == 0
        assert count(db_path, "sessions") == 0

    def test_insert_events_thousand(self, store: EventStore, db_path: Path) -> None:
        """insert_events of 1000 events returns 1000 and a second connection sees them."""
        assert store.insert_events(event(KEY, n) for n in range(1000)) == 1000
        assert count(db_path) == 1000

    def test_batch_result_counts(self, store: EventStore) -> None:
        """BatchResult counts inserted events, applied and parked results and problems."""
        result = write(
            store,
            [
                call(1, "t1"),
                ToolResult(session_id=KEY, tool_call_id="t1", timestamp=ts(1), status="success"),
                ToolResult(session_id=KEY, tool_call_id="t9", timestamp=ts(1), status="success"),
                ParseProblem(source_path="/t/a.jsonl", offset=10, reason="bad json", prefix="{"),
            ],
        )
        assert result == BatchResult(
            events_inserted=1, results_applied=1, results_parked=1, problems=1,
            first_event_id=1, last_event_id=1,
        )  # fmt: skip
        problem = store.connection.execute("SELECT * FROM parse_problems").fetchone()
        assert [problem[k] for k in ("file_path", "offset", "reason")] == [
            "/t/a.jsonl",
            10,
            "bad json",
        ]

    def test_session_info_upsert(self, store: EventStore) -> None:
        """SessionInfo: a non-None field overwrites, None keeps the stored value, first_seen keeps
        the minimum and last_activity the maximum (store/records.py)."""
        info = SessionInfo(
            session_id=KEY,
            agent="claude-code",
            transcript_path="/t/a.jsonl",
            project_dir="/p",
            model="m1",
            first_seen=ts(10),
            last_activity=ts(20),
            title="first",
        )
        write(store, [info])
        later = SessionInfo(
            session_id=KEY,
            agent="claude-code",
            transcript_path="/t/a.jsonl",
            model="m2",
            first_seen=ts(5),
            last_activity=ts(15),
            title="second",
        )
        write(store, [later])
        session = store.get_session(KEY)
        assert session is not None
        assert session["project_dir"] == "/p"
        assert session["model"] == "m2"
        assert session["spawned_at"] == ts(5)
        assert session["last_activity"] == ts(20)
        assert session["title"] == "second"


class TestViews:
    """file_activity and command_stats against numbers computed by hand."""

    @pytest.fixture
    def filled(self, store: EventStore) -> EventStore:
        a, b = "registered:view-a", "registered:view-b"
        ops = [  # (session, n, path, operation)
            (a, 1, "/src/x.py", "read"),
            (a, 2, "/src/x.py", "read"),
            (a, 3, "/src/x.py", "edit"),
            (a, 4, "/src/x.py", "edit"),
            (a, 5, "/src/x.py", "write"),
            (a, 6, "/src/x.py", "edit"),
            (a, 7, "/src/x.py", "read"),  # a read after the last change
            (a, 8, "/src/x.py", "search"),
            (a, 9, "/src/y.py", "read"),
            (a, 10, "/src/old.py", "delete"),
            (b, 11, "/src/x.py", "write"),
        ]
        rows = [
            event(s, n, event_type="file_op", file_path=path, operation=op, tool_name="Edit")
            for s, n, path, op in ops
        ]
        # Not file operations: excluded although they name a file.
        rows.append(event(a, 12, event_type="tool_call", file_path="/src/x.py"))
        rows.append(event(a, 13, event_type="command", file_path="/src/x.py", command="ls"))
        commands = [  # (session, n, category, duration, status)
            (a, 20, "test", 100, "success"),
            (a, 21, "test", 200, "error"),
            (a, 22, "test", 600, "success"),
            (a, 23, "build", None, "pending"),
            (a, 24, "build", 50, "success"),
            (b, 25, "test", 1000, "success"),
        ]
        for s, n, cat, duration, status in commands:
            rows.append(event(s, n, event_type="command", command="x", command_category=cat))
            rows[-1].update(duration_ms=duration, status=status)
        rows.append(event(a, 26, event_type="command", command="y"))  # no category: excluded
        assert store.insert_events(rows) == len(rows)
        return store

    def test_file_activity_counts(self, filled: EventStore) -> None:
        """Counts per operation, total and last modification (write/edit/delete only)."""
        rows = {r["file_path"]: r for r in filled.file_activity("registered:view-a")}
        assert set(rows) == {"/src/x.py", "/src/y.py", "/src/old.py"}
        x = rows["/src/x.py"]
        counts = [x[name] for name in ("total_operations", "reads", "writes", "edits", "deletes")]
        assert counts == [8, 3, 1, 3, 0]
        assert x["searches"] == 1
        assert x["last_modified"] == ts(6)
        assert x["last_access"] == ts(8)
        y = rows["/src/y.py"]
        assert (y["total_operations"], y["reads"], y["last_modified"]) == (1, 1, None)
        old = rows["/src/old.py"]
        assert (old["deletes"], old["last_modified"]) == (1, ts(10))

    def test_file_activity_per_session(self, filled: EventStore) -> None:
        """The same file in another session is counted separately; id and key both filter."""
        b = filled.get_session("registered:view-b")
        assert b is not None
        rows = filled.file_activity(b["id"])
        assert rows == filled.file_activity("registered:view-b")
        assert [(r["file_path"], r["writes"], r["total_operations"]) for r in rows] == [
            ("/src/x.py", 1, 1)
        ]
        assert len(filled.file_activity()) == 4
        assert filled.file_activity("registered:none") == []

    def test_file_activity_order(self, filled: EventStore) -> None:
        """Busiest files first."""
        paths = [r["file_path"] for r in filled.file_activity("registered:view-a")]
        assert paths == ["/src/x.py", "/src/old.py", "/src/y.py"]

    def test_command_stats(self, filled: EventStore) -> None:
        """Count, average duration (NULL ignored), first/last execution, failures."""
        rows = {r["command_category"]: r for r in filled.command_stats("registered:view-a")}
        assert set(rows) == {"test", "build"}
        test = rows["test"]
        assert test["count"] == 3
        assert test["avg_duration"] == pytest.approx((100 + 200 + 600) / 3)
        assert (test["first_execution"], test["last_execution"]) == (ts(20), ts(22))
        assert test["failures"] == 1
        build = rows["build"]
        assert build["count"] == 2
        assert build["avg_duration"] == pytest.approx(50.0)
        assert (build["first_execution"], build["last_execution"]) == (ts(23), ts(24))
        assert build["failures"] == 0

    def test_command_stats_per_session(self, filled: EventStore) -> None:
        """Another session's commands are separate."""
        [row] = filled.command_stats("registered:view-b")
        assert (row["command_category"], row["count"], row["avg_duration"]) == ("test", 1, 1000)
        assert len(filled.command_stats()) == 3

    def test_views_follow_completion(self, store: EventStore) -> None:
        """A duration filled in by a ToolResult shows up in command_stats."""
        write(store, [call(1, "t1", at=0), call(2, "t2", at=10)])
        write(
            store,
            [
                ToolResult(session_id=KEY, tool_call_id="t1", timestamp=ts(1), status="success"),
                ToolResult(session_id=KEY, tool_call_id="t2", timestamp=ts(13), status="error"),
            ],
        )
        [row] = store.command_stats(KEY)
        assert row["avg_duration"] == pytest.approx((1000 + 3000) / 2)
        assert row["failures"] == 1


class TestGetEvents:
    """get_events filters, bounds and ordering."""

    @pytest.fixture
    def filled(self, store: EventStore) -> EventStore:
        table = [  # (session, n, event_type, tool, status, file_path, operation, category)
            (KEY, 1, "file_op", "Read", "success", "/a.py", "read", None),
            (KEY, 2, "file_op", "Edit", "error", "/b.py", "edit", None),
            (KEY, 3, "command", "Bash", "success", None, None, "test"),
            (KEY, 4, "command", "Bash", "success", None, None, "build"),
            (KEY, 5, "file_op", "Edit", "success", "/a.py", "edit", None),
            (KEY, 6, "message", None, None, None, None, None),
            ("codex:other", 7, "file_op", "Read", "success", "/a.py", "read", None),
            ("codex:other", 8, "command", "Bash", "error", None, None, "test"),
        ]
        fields = ("event_type", "tool_name", "status", "file_path", "operation")
        rows = [
            event(session, n, command_category=category, **dict(zip(fields, rest, strict=True)))
            for session, n, *rest, category in table
        ]
        store.insert_events(reversed(rows))  # stored out of time order on purpose
        return store

    @staticmethod
    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [row["agent_event_id"] for row in rows]

    def test_all_in_time_order(self, filled: EventStore) -> None:
        """Without filters: every event, in timestamp order."""
        assert self.ids(filled.get_events()) == [f"e{n}" for n in range(1, 9)]

    def test_by_session_id_or_key(self, filled: EventStore) -> None:
        """The session is given by key or integer id; an unknown key gives nothing."""
        session = filled.get_session(KEY)
        assert session is not None
        assert self.ids(filled.get_events(KEY)) == ["e1", "e2", "e3", "e4", "e5", "e6"]
        assert filled.get_events(session["id"]) == filled.get_events(KEY)
        assert filled.get_events("claude-code:unknown") == []
        assert filled.get_events(10_000) == []

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"file_path": "/a.py"}, ["e1", "e5", "e7"]),
            ({"command_category": "test"}, ["e3", "e8"]),
            ({"event_type": "command"}, ["e3", "e4", "e8"]),
            ({"tool_name": "Edit"}, ["e2", "e5"]),
            ({"status": "error"}, ["e2", "e8"]),
            ({"file_path": "/a.py", "tool_name": "Edit"}, ["e5"]),
            ({"event_type": "command", "status": "success", "tool_name": "Bash"}, ["e3", "e4"]),
            ({"command_category": "test", "status": "error"}, ["e8"]),
            ({"file_path": "/none.py"}, []),
            ({"since": ts(3)}, ["e3", "e4", "e5", "e6", "e7", "e8"]),
            ({"until": ts(3)}, ["e1", "e2", "e3"]),
            ({"since": ts(2), "until": ts(4)}, ["e2", "e3", "e4"]),
            (
                {"since": "2025-11-14T12:00:02+02:00", "until": 1_763_114_404_000},
                ["e2", "e3", "e4"],
            ),
            ({"since": ts(2.5), "until": ts(3.5)}, ["e3"]),
            ({"since": ts(5), "until": ts(4)}, []),
            ({"event_type": "file_op", "since": ts(2)}, ["e2", "e5", "e7"]),
            ({"limit": 3}, ["e1", "e2", "e3"]),
            ({"limit": 3, "offset": 2}, ["e3", "e4", "e5"]),
            ({"offset": 6}, ["e7", "e8"]),
            ({"limit": 0}, []),
            ({"event_type": "command", "limit": 1, "offset": 1}, ["e4"]),
            ({"file_path": None, "status": None}, [f"e{n}" for n in range(1, 9)]),
        ],
    )
    def test_filters(
        self, filled: EventStore, filters: dict[str, Any], expected: list[str]
    ) -> None:
        """Each filter alone and several at once; since/until are inclusive."""
        assert self.ids(filled.get_events(**filters)) == expected

    def test_session_with_filters(self, filled: EventStore) -> None:
        """The session combines with the other filters."""
        assert self.ids(filled.get_events(KEY, file_path="/a.py")) == ["e1", "e5"]
        assert self.ids(filled.get_events("codex:other", command_category="test")) == ["e8"]

    @pytest.mark.parametrize("name", ["session", "type", "file", "order_by", "where"])
    def test_unknown_filter(self, filled: EventStore, name: str) -> None:
        """An unknown filter key raises ValueError naming the key."""
        with pytest.raises(ValueError, match=f"'{name}'"):
            filled.get_events(**{name: "x"})

    @pytest.mark.parametrize(("name", "value"), [("limit", "10"), ("offset", 1.5), ("limit", True)])
    def test_bad_limit(self, filled: EventStore, name: str, value: object) -> None:
        """limit/offset must be integers."""
        with pytest.raises(ValueError, match="limit/offset"):
            filled.get_events(**{name: value})

    @pytest.mark.parametrize("name", ["since", "until"])
    def test_bad_bound(self, filled: EventStore, name: str) -> None:
        """A since/until that is not a time raises ValueError naming it."""
        with pytest.raises(ValueError, match=name):
            filled.get_events(**{name: "tomorrow"})

    @pytest.mark.parametrize(
        "name", ["event_type", "tool_name", "file_path", "command_category", "status"]
    )
    def test_values_are_bound(self, filled: EventStore, name: str) -> None:
        """A value like "x' OR 1=1 --" is compared as a value: nothing matches, nothing fails."""
        assert filled.get_events(**{name: "x' OR 1=1 --"}) == []
        assert filled.get_events("x' OR 1=1 --") == []
        assert filled.get_event_by_agent_id("x' OR 1=1 --") is None
        assert len(filled.get_events()) == 8

    def test_injection_in_stored_values(self, store: EventStore) -> None:
        """Quotes inside stored values are data: stored and found back verbatim."""
        nasty = "/tmp/it's\"; DROP TABLE events; --.py"
        store.insert_event(event(KEY, 1, event_type="file_op", file_path=nasty, operation="read"))
        [row] = store.get_events(file_path=nasty)
        assert row["file_path"] == nasty
        assert store.file_activity()[0]["file_path"] == nasty


class TestJsonFields:
    """tool_arguments and raw_data round-trip as JSON."""

    def test_dict_and_list_round_trip(self, store: EventStore) -> None:
        """A dict and a list (with unicode and nesting) come back equal."""
        arguments = {"file_path": "/a.py", "limit": 10, "flags": [True, None], "note": "é✓ 𝄞"}
        raw = [{"type": "tool_use", "id": "t1"}, 3, "text"]
        store.insert_event(event(KEY, 1, tool_arguments=arguments, raw_data=raw))
        [row] = store.get_events(KEY)
        assert row["tool_arguments"] == arguments
        assert row["raw_data"] == raw
        stored = store.connection.execute("SELECT tool_arguments FROM events").fetchone()[0]
        assert "é✓ 𝄞" in stored  # kept as UTF-8, not \\u-escaped

    def test_json_text_round_trip(self, store: EventStore) -> None:
        """JSON already encoded as text (as parsers give it) decodes the same."""
        store.insert_event(event(KEY, 1, tool_arguments='{"command": "ls"}'))
        assert store.get_events(KEY)[0]["tool_arguments"] == {"command": "ls"}

    def test_capped_json_kept_as_text(self, store: EventStore) -> None:
        """A capped (truncated) JSON value is returned as the text it is."""
        store.insert_event(event(KEY, 1, raw_data='{"type": "assistant", "mess'))
        assert store.get_events(KEY)[0]["raw_data"] == '{"type": "assistant", "mess'

    def test_absent_is_none(self, store: EventStore) -> None:
        """Absent JSON fields are None."""
        store.insert_event(event(KEY, 1))
        row = store.get_events(KEY)[0]
        assert row["tool_arguments"] is None
        assert row["raw_data"] is None

    def test_by_agent_id_decodes(self, store: EventStore) -> None:
        """get_event_by_agent_id decodes JSON fields too."""
        store.insert_event(event(KEY, 1, tool_arguments={"a": [1, 2]}))
        found = store.get_event_by_agent_id("e1")
        assert found is not None
        assert found["tool_arguments"] == {"a": [1, 2]}


class TestTimestampNormalisation:
    """Timestamps are stored in the contract's one form."""

    @pytest.mark.parametrize(
        "given",
        [
            "2025-11-14T10:00:00Z",
            "2025-11-14T10:00:00.000Z",
            "2025-11-14T12:00:00+02:00",
            "2025-11-14T07:00:00-03:00",
            "2025-11-14T10:00:00.000000+00:00",
            1_763_114_400_000,
            1_763_114_400,
            BASE.isoformat(),
        ],
    )
    def test_event_timestamp(self, store: EventStore, given: object) -> None:
        """ISO with Z or offsets, epoch ms and s all become 2025-11-14T10:00:00.000Z."""
        store.insert_event(event(KEY, 1, timestamp=given))
        assert store.get_events(KEY)[0]["timestamp"] == "2025-11-14T10:00:00.000Z"

    def test_mixed_forms_sort_by_instant(self, store: EventStore) -> None:
        """After normalisation, text order is time order whatever form each arrived in."""
        store.insert_events(
            [
                event(KEY, 1, timestamp="2025-11-14T11:30:00+02:00"),  # 09:30Z
                event(KEY, 2, timestamp=1_763_114_400_000),  # 10:00Z
                event(KEY, 3, timestamp="2025-11-14T09:45:00Z"),  # 09:45Z
            ]
        )
        assert [e["agent_event_id"] for e in store.get_events(KEY)] == ["e1", "e3", "e2"]
        assert [e["agent_event_id"] for e in store.get_events(since="2025-11-14T09:40:00Z")] == [
            "e3",
            "e2",
        ]

    def test_created_at_form(self, store: EventStore) -> None:
        """created_at of an event is in the contract's form too."""
        store.insert_event(event(KEY, 1))
        created = store.get_events(KEY)[0]["created_at"]
        assert len(created) == CONTRACT_LEN
        assert created.endswith("Z")


class TestIdempotentInsert:
    """Re-inserting the same events (a re-read from byte 0) adds no row."""

    def test_reinsert_returns_zero(self, store: EventStore, db_path: Path) -> None:
        """The second insert_events of the same events returns 0 and adds nothing."""
        batch = [
            event(KEY, n, event_type="file_op", file_path="/a", operation="read") for n in range(50)
        ]
        assert store.insert_events(batch) == 50
        assert store.insert_events(batch) == 0
        assert store.insert_event(batch[0]) is False
        assert count(db_path) == 50

    def test_partial_overlap(self, store: EventStore) -> None:
        """A batch that overlaps stored events counts only the new ones."""
        store.insert_events([event(KEY, n) for n in range(10)])
        assert store.insert_events([event(KEY, n) for n in range(5, 15)]) == 5
        assert len(store.get_events(KEY)) == 15

    def test_same_agent_id_other_session(self, store: EventStore) -> None:
        """The natural key is per session: the same agent id in two sessions is two rows."""
        assert store.insert_event(event(KEY, 1))
        assert store.insert_event(event("codex:x", 1))
        assert len(store.get_events()) == 2

    def test_first_write_wins_for_non_usage(self, store: EventStore) -> None:
        """A conflicting non-usage event changes nothing (the stored row is kept)."""
        store.insert_event(event(KEY, 1, event_type="message", tool_name="first"))
        assert store.insert_event(event(KEY, 1, event_type="message", tool_name="second")) is False
        assert store.get_events(KEY)[0]["tool_name"] == "first"

    def test_completed_call_survives_reread(self, store: EventStore) -> None:
        """Re-reading a completed call (status pending in the line) keeps success/duration."""
        write(store, [call(1, "t1", at=0)])
        write(store, [ToolResult(KEY, "t1", ts(2), "success", exit_code=0)])
        write(store, [call(1, "t1", at=0)])
        [row] = store.get_events(KEY)
        assert (row["status"], row["duration_ms"], row["exit_code"]) == ("success", 2000, 0)


class TestTokenMerge:
    """Usage events merge token counts by maximum on conflict, never by sum."""

    @staticmethod
    def usage(n: int, **tokens: int | None) -> Event:
        return Event(
            session_id=KEY,
            agent_event_id=f"msg-{n}",
            timestamp=ts(n),
            event_type="usage",
            model="m",
            **tokens,
        )

    def test_max_merge(self, store: EventStore) -> None:
        """Repeated usage of one message: each token field becomes its maximum."""
        write(store, [self.usage(1, input_tokens=100, output_tokens=5)])
        write(store, [self.usage(1, input_tokens=100, output_tokens=50, cache_read_tokens=10)])
        result = write(
            store, [self.usage(1, input_tokens=90, output_tokens=20, cache_creation_tokens=7)]
        )
        assert result.events_inserted == 0
        [row] = store.get_events(KEY)
        assert row["input_tokens"] == 100  # not 290
        assert row["output_tokens"] == 50  # not 75
        assert row["cache_read_tokens"] == 10
        assert row["cache_creation_tokens"] == 7

    def test_same_batch(self, store: EventStore) -> None:
        """Duplicates inside one batch merge the same way."""
        write(
            store,
            [
                self.usage(1, output_tokens=5),
                self.usage(1, output_tokens=9),
                self.usage(1, output_tokens=7),
            ],
        )
        [row] = store.get_events(KEY)
        assert row["output_tokens"] == 9

    def test_insert_events_reports_zero(self, store: EventStore) -> None:
        """A merged usage row is not counted as a new event."""
        first = event(KEY, 1, event_type="usage", output_tokens=1)
        assert store.insert_events([first]) == 1
        assert store.insert_events([{**first, "output_tokens": 3}]) == 0
        assert store.get_events(KEY)[0]["output_tokens"] == 3

    def test_non_usage_not_merged(self, store: EventStore) -> None:
        """Token counts of other event types are not merged on conflict."""
        store.insert_event(event(KEY, 1, event_type="message", output_tokens=5))
        store.insert_event(event(KEY, 1, event_type="message", output_tokens=50))
        assert store.get_events(KEY)[0]["output_tokens"] == 5


class TestToolResults:
    """ToolResult completes the call row in place via apply_records."""

    def row(self, store: EventStore, call_id: str) -> dict[str, Any]:
        rows = [r for r in store.get_events(KEY) if r["tool_call_id"] == call_id]
        assert len(rows) == 1
        return rows[0]

    def test_pending_to_success_with_computed_duration(self, store: EventStore) -> None:
        """pending → success; duration_ms = result time − call time when the agent gives none."""
        write(store, [call(1, "t1", at=0)])
        assert self.row(store, "t1")["status"] == "pending"
        result = write(store, [ToolResult(KEY, "t1", ts(2.345), "success")])
        assert result.results_applied == 1
        row = self.row(store, "t1")
        assert row["status"] == "success"
        assert row["duration_ms"] == 2345
        assert row["exit_code"] is None

    def test_error_with_exit_code(self, store: EventStore) -> None:
        """pending → error with the exit code the agent recorded."""
        write(store, [call(1, "t1", at=0)])
        write(store, [ToolResult(KEY, "t1", ts(1), "error", exit_code=2)])
        row = self.row(store, "t1")
        assert (row["status"], row["exit_code"], row["duration_ms"]) == ("error", 2, 1000)

    def test_agent_duration_wins(self, store: EventStore) -> None:
        """The agent's own duration is kept over the one computed from timestamps."""
        write(store, [call(1, "t1", at=0)])
        write(store, [ToolResult(KEY, "t1", ts(10), "success", duration_ms=42)])
        assert self.row(store, "t1")["duration_ms"] == 42

    def test_error_is_sticky(self, store: EventStore) -> None:
        """A later success does not undo an error; a later exit code replaces the earlier."""
        write(store, [call(1, "t1", at=0)])
        write(store, [ToolResult(KEY, "t1", ts(1), "error", exit_code=1)])
        write(store, [ToolResult(KEY, "t1", ts(5), "success")])
        row = self.row(store, "t1")
        assert (row["status"], row["exit_code"], row["duration_ms"]) == ("error", 1, 1000)

    def test_success_then_error(self, store: EventStore) -> None:
        """An error after a success wins (Codex's exit status may come last)."""
        write(store, [call(1, "t1", at=0)])
        write(store, [ToolResult(KEY, "t1", ts(1), "success")])
        write(store, [ToolResult(KEY, "t1", ts(1), "error", exit_code=3)])
        row = self.row(store, "t1")
        assert (row["status"], row["exit_code"]) == ("error", 3)

    def test_same_batch(self, store: EventStore) -> None:
        """Call and result in one batch, result listed first: applied, nothing parked."""
        result = write(store, [ToolResult(KEY, "t1", ts(3), "success"), call(1, "t1", at=1)])
        assert (result.results_applied, result.results_parked) == (1, 0)
        assert self.row(store, "t1")["duration_ms"] == 2000

    def test_result_before_call(self, store: EventStore) -> None:
        """A result arriving before its call is parked, then applied when the call arrives."""
        first = write(store, [ToolResult(KEY, "t1", ts(4), "error", exit_code=127)])
        assert (first.results_applied, first.results_parked) == (0, 1)
        parked = store.connection.execute("SELECT * FROM pending_results").fetchall()
        assert [(p["tool_call_id"], p["status"], p["exit_code"]) for p in parked] == [
            ("t1", "error", 127)
        ]
        second = write(store, [call(1, "t1", at=1), call(2, "t2", at=2)])
        assert second.results_applied == 1
        row = self.row(store, "t1")
        assert (row["status"], row["exit_code"], row["duration_ms"]) == ("error", 127, 3000)
        assert self.row(store, "t2")["status"] == "pending"
        assert store.connection.execute("SELECT COUNT(*) FROM pending_results").fetchone()[0] == 0

    def test_parked_results_merge(self, store: EventStore) -> None:
        """Two parked results for one call merge: error sticky, agent duration kept."""
        write(store, [ToolResult(KEY, "t1", ts(2), "error", duration_ms=700)])
        write(store, [ToolResult(KEY, "t1", ts(3), "success", exit_code=0)])
        write(store, [call(1, "t1", at=0)])
        row = self.row(store, "t1")
        assert (row["status"], row["duration_ms"], row["exit_code"]) == ("error", 700, 0)

    def test_parked_in_other_session_not_applied(self, store: EventStore) -> None:
        """A parked result only completes the call of its own session."""
        write(store, [ToolResult("codex:other", "t1", ts(2), "success")])
        write(store, [call(1, "t1", at=0)])
        assert self.row(store, "t1")["status"] == "pending"
        assert store.connection.execute("SELECT COUNT(*) FROM pending_results").fetchone()[0] == 1

    @pytest.mark.parametrize("event_type", ["file_op", "command", "tool_call"])
    def test_every_tool_type(self, store: EventStore, event_type: str) -> None:
        """file_op, command and tool_call rows are all completed."""
        write(store, [call(1, "t1", event_type=event_type)])
        write(store, [ToolResult(KEY, "t1", ts(1), "success")])
        assert self.row(store, "t1")["status"] == "success"

    def test_non_tool_rows_untouched(self, store: EventStore) -> None:
        """A message that carries the same tool_call_id is not 'completed'."""
        write(store, [call(1, "t1", event_type="message")])
        result = write(store, [ToolResult(KEY, "t1", ts(1), "success")])
        assert result.results_parked == 1
        assert self.row(store, "t1")["status"] == "pending"


class TestLookupsAndHealth:
    """get_event_by_agent_id and health_check."""

    def test_by_agent_id(self, store: EventStore) -> None:
        """Found by the agent's id, optionally within a session (by id or key)."""
        store.insert_events([event(KEY, 1, tool_name="A"), event("codex:x", 2, tool_name="B")])
        found = store.get_event_by_agent_id("e1")
        assert found is not None
        assert found["tool_name"] == "A"
        session = store.get_session(KEY)
        assert session is not None
        assert store.get_event_by_agent_id("e1", KEY) == found
        assert store.get_event_by_agent_id("e1", session["id"]) == found
        assert store.get_event_by_agent_id("e1", "codex:x") is None
        assert store.get_event_by_agent_id("missing") is None

    def test_same_agent_id_in_two_sessions(self, store: EventStore) -> None:
        """With a session, the agent id is unambiguous; without, the first stored wins."""
        store.insert_events([event(KEY, 1, tool_name="A"), event("codex:x", 1, tool_name="B")])
        in_b = store.get_event_by_agent_id("e1", "codex:x")
        assert in_b is not None
        assert in_b["tool_name"] == "B"
        first = store.get_event_by_agent_id("e1")
        assert first is not None
        assert first["tool_name"] == "A"

    def test_health_check(self, store: EventStore, db_path: Path) -> None:
        """A healthy store reports ok, its path, version, WAL and row counts."""
        store.insert_events([event(KEY, 1), event(KEY, 2)])
        health = store.health_check()
        assert health["ok"] is True
        assert health["path"] == str(db_path)
        assert health["schema_version"] == CURRENT_VERSION
        assert health["journal_mode"] == "wal"
        assert health["integrity"] == "ok"
        assert (health["sessions"], health["events"], health["files"]) == (1, 2, 0)
        assert health["parse_problems"] == 0


class TestLifecycle:
    """close() and the context manager."""

    def test_close_idempotent(self, db_path: Path) -> None:
        """close() twice is fine; afterwards the store refuses use with StoreError."""
        opened = EventStore(db_path)
        opened.close()
        opened.close()
        with pytest.raises(StoreError, match="closed") as caught:
            opened.get_events()
        assert str(db_path) in str(caught.value)
        with pytest.raises(StoreError):
            opened.create_session()
        with pytest.raises(StoreError):
            opened.health_check()

    def test_context_manager(self, db_path: Path) -> None:
        """Leaving the with block closes the store, also after an exception."""
        with EventStore(db_path) as opened:
            opened.create_session()
        with pytest.raises(StoreError):
            opened.list_sessions()
        with pytest.raises(RuntimeError), EventStore(db_path) as failing:
            raise RuntimeError("boom")
        with pytest.raises(StoreError):
            failing.list_sessions()

    def test_close_releases_files(self, db_path: Path) -> None:
        """After the last connection closes, the WAL is checkpointed and removed."""
        with EventStore(db_path) as opened:
            opened.insert_events(event(KEY, n) for n in range(10))
        assert not db_path.with_name("events.db-wal").exists()
        assert count(db_path) == 10

    def test_readonly_store(self, db_path: Path) -> None:
        """A read-only store reads what a writer committed and refuses to write."""
        with EventStore(db_path) as writer:
            writer.insert_event(event(KEY, 1))
        with EventStore(db_path, readonly=True) as reader:
            assert len(reader.get_events(KEY)) == 1
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.insert_event(event(KEY, 2))


class TestConcurrentReader:
    """A reader on a second connection while a writer thread keeps committing batches."""

    BATCH = 100

    def test_reader_sees_committed_batches(self, db_path: Path) -> None:
        """The reader sees whole batches only, growing, while the writer is still writing."""
        writer_store = EventStore(db_path)
        stop = threading.Event()
        errors: list[BaseException] = []
        written: list[int] = []

        def write_batches() -> None:
            try:
                n = 0
                while not stop.is_set():
                    batch = [event(KEY, n + i) for i in range(self.BATCH)]
                    written.append(writer_store.insert_events(batch))
                    n += self.BATCH
            except BaseException as exc:  # reported to the test thread below
                errors.append(exc)

        thread = threading.Thread(target=write_batches, name="test-writer", daemon=True)
        seen: list[int] = []
        try:
            with EventStore(db_path, readonly=True) as reader:
                thread.start()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not errors:
                    seen.append(len(reader.get_events(KEY)))
                    if seen[-1] >= 5 * self.BATCH:
                        break
                else:
                    pytest.fail(f"reader saw only {seen[-1:]} rows by the deadline: {errors}")
                assert thread.is_alive()  # the writer was still writing while we read
        finally:
            stop.set()
            thread.join(timeout=30)
            writer_store.close()
        assert not thread.is_alive()
        assert errors == []
        assert all(n % self.BATCH == 0 for n in seen), "a reader saw part of a batch"
        assert seen == sorted(seen)
        assert any(n > 0 for n in seen)
        assert written == [self.BATCH] * len(written)
        assert count(db_path) == self.BATCH * len(written)


class TestPermissionWait:
    """A tool call's permission wait (the tracker's ToolWait) is kept out of its duration."""

    def _row(self, store: EventStore) -> tuple[int, int]:
        row = store.connection.execute(
            "SELECT duration_ms, wait_ms FROM events WHERE tool_call_id = 'c1'"
        ).fetchone()
        return row[0], row[1]

    def test_wait_before_the_result(self, store: EventStore) -> None:
        """The usual order: the prompt is answered, then the command runs and returns."""
        write(store, [call(1, "c1", at=0), ToolWait(KEY, ts(1), 48_000)])
        write(store, [ToolResult(KEY, "c1", ts(50), "success")])
        assert self._row(store) == (2_000, 48_000)

    def test_wait_after_the_result(self, store: EventStore) -> None:
        """A fast command's result committed first: the wait is given back from the duration."""
        write(store, [call(1, "c1", at=0), ToolResult(KEY, "c1", ts(50), "success")])
        write(store, [ToolWait(KEY, ts(1), 48_000)])
        assert self._row(store) == (2_000, 48_000)

    def test_the_newest_call_begun_by_then_waited(self, store: EventStore) -> None:
        """Only one call takes the wait; a second ToolWait goes to no call twice."""
        write(store, [call(1, "c0", at=0), call(2, "c1", at=5)])
        write(store, [ToolWait(KEY, ts(6), 1_000), ToolWait(KEY, ts(7), 500)])
        waits = dict(store.connection.execute("SELECT tool_call_id, wait_ms FROM events"))
        assert waits == {"c1": 1_000, "c0": 500}

    def test_a_call_finished_before_the_wait_keeps_its_duration(self, store: EventStore) -> None:
        """A wait with no call running (input between turns) changes nothing."""
        write(store, [call(1, "c1", at=0), ToolResult(KEY, "c1", ts(2), "success")])
        write(store, [ToolWait(KEY, ts(10), 5_000)])
        assert self._row(store) == (2_000, None)
