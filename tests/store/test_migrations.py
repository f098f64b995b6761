"""Migrations: a seed (version 1) database reaches the current schema with its rows; a newer
database is refused untouched; a failing migration leaves the previous version intact."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import store.migrate as migrate_module
from config.errors import SchemaVersionError, StoreOpenError
from store import CURRENT_VERSION, EventStore
from store.batch import SessionKeys, apply_records
from store.migrate import MIGRATIONS, Migration, migrate, read_version
from store.records import ToolResult

SEED_SESSIONS = [
    # (id, copilot_session_id, project_dir, status, importance, pid, created_at)
    ("sess-alpha", "cp-1", "/proj/a", "running", "high", 101, "2025-11-14T09:00:00.000Z"),
    ("sess-beta", "cp-2", "/proj/b", "completed", "normal", None, "2025-11-14T09:30:00.000Z"),
    ("sess-gamma", None, None, "active", "low", None, "2025-11-14T09:45:00.000Z"),
]
SEED_EVENTS = [
    # (id, session_id, copilot_event_id, timestamp, event_type, file_path, operation,
    #  command, command_category, status, duration_ms)
    (
        "ev-1",
        "sess-alpha",
        "cpe-1",
        "2025-11-14T10:00:00.000Z",
        "file_op",
        "/proj/a/x.py",
        "read",
        None,
        None,
        "success",
        5,
    ),
    (
        "ev-2",
        "sess-alpha",
        "cpe-2",
        "2025-11-14T10:00:01.000Z",
        "file_op",
        "/proj/a/x.py",
        "edit",
        None,
        None,
        "success",
        7,
    ),
    (
        "ev-3",
        "sess-alpha",
        None,
        "2025-11-14T10:00:02.000Z",
        "command",
        None,
        None,
        "npm test",
        "test",
        "error",
        900,
    ),
    (
        "ev-4",
        "sess-beta",
        "cpe-1",
        "2025-11-14T10:05:00.000Z",
        "command",
        None,
        None,
        "make",
        "build",
        "success",
        300,
    ),
]


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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seed_database(path: Path) -> None:
    """A version-1 database built by the seed migration itself, filled with seed-shaped rows."""
    with connect(path) as conn:
        conn.execute("BEGIN")
        MIGRATIONS[0].apply(conn)
        for sid, cp, project, status, importance, pid, created in SEED_SESSIONS:
            conn.execute(
                "INSERT INTO sessions (id, copilot_session_id, project_dir, task_file, "
                "spawned_at, spawned_by, status, importance, pid, last_activity, created_at, "
                "updated_at) VALUES (?, ?, ?, NULL, ?, 'cli', ?, ?, ?, ?, ?, ?)",
                (sid, cp, project, created, status, importance, pid, created, created, created),
            )
        for eid, sid, cpe, stamp, kind, path_, op, cmd, cat, status, dur in SEED_EVENTS:
            conn.execute(
                "INSERT INTO events (id, session_id, copilot_event_id, parent_event_id, "
                "timestamp, event_type, tool_name, tool_call_id, tool_arguments, file_path, "
                "operation, command, command_category, status, duration_ms, source, raw_data, "
                "created_at) VALUES (?, ?, ?, NULL, ?, ?, 'tool', ?, ?, ?, ?, ?, ?, ?, ?, "
                "'copilot', ?, ?)",
                (
                    eid,
                    sid,
                    cpe,
                    stamp,
                    kind,
                    f"call-{eid}",
                    '{"arg": 1}',
                    path_,
                    op,
                    cmd,
                    cat,
                    status,
                    dur,
                    '{"raw": true}',
                    stamp,
                ),
            )
        conn.execute("COMMIT")


def schema_of(path: Path) -> dict[str, Any]:
    """Tables' columns, indexes (columns, uniqueness, partial) and views of a database."""
    with connect(path) as conn:
        master = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'"
        ).fetchall()
        tables = sorted(name for kind, name, _ in master if kind == "table")
        out: dict[str, Any] = {
            "views": sorted(name for kind, name, _ in master if kind == "view"),
            "columns": {
                t: [tuple(r[1:6]) for r in conn.execute(f"PRAGMA table_info('{t}')")]
                for t in tables
            },
            "foreign_keys": {
                t: sorted(tuple(r[2:]) for r in conn.execute(f"PRAGMA foreign_key_list('{t}')"))
                for t in tables
            },
            "indexes": {},
        }
        for table in tables:
            for row in conn.execute(f"PRAGMA index_list('{table}')"):
                name, unique, origin, partial = row[1], row[2], row[3], row[4]
                columns = [r[2] for r in conn.execute(f"PRAGMA index_info('{name}')")]
                out["indexes"][name] = (table, columns, unique, origin, partial)
        out["sql"] = sorted(
            (kind, name, sql)
            for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
            if name != "schema_version"
        )
        return out


def without_tables(sql: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [row for row in sql if row[0] != "table"]


def fresh_schema(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "fresh" / "events.db"
    with EventStore(path):
        pass
    return schema_of(path)


class TestSeedUpgrade:
    """A version-1 database opened by EventStore."""

    def test_recognised_as_version_one(self, tmp_path: Path) -> None:
        """The seed schema has no schema_version table and is recognised as version 1."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with connect(path) as conn:
            assert read_version(conn) == 1

    def test_migrated_to_current(self, tmp_path: Path) -> None:
        """Opening migrates to CURRENT_VERSION and records it."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path) as opened:
            assert opened.health_check()["schema_version"] == CURRENT_VERSION
            versions = [
                r[0]
                for r in opened.connection.execute(
                    "SELECT version FROM schema_version ORDER BY version"
                )
            ]
        assert versions == [m.version for m in MIGRATIONS[1:]]

    def test_sessions_preserved(self, tmp_path: Path) -> None:
        """Seed sessions keep their fields; the text id becomes session_key."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path) as opened:
            sessions = {s["session_key"]: s for s in opened.list_sessions()}
        assert set(sessions) == {"sess-alpha", "sess-beta", "sess-gamma"}
        alpha = sessions["sess-alpha"]
        assert isinstance(alpha["id"], int)
        assert alpha["agent"] == "copilot"
        assert alpha["agent_session_id"] == "cp-1"
        assert (alpha["project_dir"], alpha["status"], alpha["importance"], alpha["pid"]) == (
            "/proj/a",
            "running",
            "high",
            101,
        )
        assert alpha["spawned_by"] == "cli"
        assert alpha["created_at"] == "2025-11-14T09:00:00.000Z"
        assert sessions["sess-beta"]["status"] == "completed"
        # 'active' is not a contract status: it becomes 'unknown' (the CHECK would refuse it).
        assert sessions["sess-gamma"]["status"] == "unknown"
        assert sessions["sess-gamma"]["agent_session_id"] is None

    def test_events_preserved_and_linked(self, tmp_path: Path) -> None:
        """Seed events keep their fields, point at the integer session id, and copilot_event_id
        (or the old row id) becomes agent_event_id."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path) as opened:
            alpha = opened.get_events("sess-alpha")
            beta = opened.get_events("sess-beta")
            session = opened.get_session("sess-alpha")
            assert session is not None
            assert [e["session_id"] for e in alpha] == [session["id"]] * 3
        assert [e["agent_event_id"] for e in alpha] == ["cpe-1", "cpe-2", "ev-3"]
        assert [e["agent_event_id"] for e in beta] == ["cpe-1"]
        first = alpha[0]
        assert (first["file_path"], first["operation"], first["status"]) == (
            "/proj/a/x.py",
            "read",
            "success",
        )
        assert first["tool_arguments"] == {"arg": 1}
        assert first["raw_data"] == {"raw": True}
        assert first["tool_call_id"] == "call-ev-1"
        assert first["source"] == "copilot"
        command = alpha[2]
        assert (command["command"], command["command_category"], command["duration_ms"]) == (
            "npm test",
            "test",
            900,
        )

    def test_views_work_after_upgrade(self, tmp_path: Path) -> None:
        """file_activity and command_stats answer over the migrated rows."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path) as opened:
            [files] = opened.file_activity("sess-alpha")
            stats = {r["command_category"]: r for r in opened.command_stats()}
        assert (files["file_path"], files["reads"], files["edits"]) == ("/proj/a/x.py", 1, 1)
        assert files["last_modified"] == "2025-11-14T10:00:01.000Z"
        assert (stats["test"]["count"], stats["test"]["failures"]) == (1, 1)
        assert stats["build"]["avg_duration"] == 300

    def test_new_rows_after_upgrade(self, tmp_path: Path) -> None:
        """The upgraded database takes new events; re-inserting a migrated one adds nothing."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path) as opened:
            assert (
                opened.insert_event(
                    {
                        "session_id": "sess-alpha",
                        "agent_event_id": "cpe-1",
                        "timestamp": "2025-11-14T10:00:00.000Z",
                        "event_type": "file_op",
                    }
                )
                is False
            )
            assert opened.insert_event(
                {
                    "session_id": "sess-alpha",
                    "agent_event_id": "new",
                    "timestamp": "2025-11-14T11:00:00.000Z",
                    "event_type": "message",
                }
            )
            assert len(opened.get_events("sess-alpha")) == 4

    def test_schema_equals_fresh(self, tmp_path: Path) -> None:
        """The upgraded schema (columns, indexes, views, their SQL) equals a fresh database's."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path):
            pass
        migrated, fresh = schema_of(path), fresh_schema(tmp_path)
        assert migrated["columns"] == fresh["columns"]
        assert migrated["indexes"] == fresh["indexes"]
        assert (
            migrated["views"]
            == fresh["views"]
            == [
                "command_stats",
                "file_activity",
                "usage_daily",
            ]
        )
        assert migrated["foreign_keys"] == fresh["foreign_keys"]
        # Columns added in place keep ALTER TABLE's wording in sqlite_master, so table text is
        # compared through the columns above; indexes and views must match to the letter.
        assert without_tables(migrated["sql"]) == without_tables(fresh["sql"])
        assert "sessions_v1" not in migrated["columns"]
        assert "events_v1" not in migrated["columns"]

    def test_reopen_is_a_no_op(self, tmp_path: Path) -> None:
        """Opening an upgraded database again changes nothing."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with EventStore(path):
            pass
        before = sha256(path)
        with EventStore(path):
            pass
        assert sha256(path) == before

    def test_empty_seed_database(self, tmp_path: Path) -> None:
        """A seed database without rows upgrades too."""
        path = tmp_path / "empty-seed.db"
        with connect(path) as conn:
            conn.execute("BEGIN")
            MIGRATIONS[0].apply(conn)
            conn.execute("COMMIT")
        with EventStore(path) as opened:
            assert opened.health_check()["schema_version"] == CURRENT_VERSION
            assert opened.list_sessions() == []


class TestNewerDatabase:
    """A database written by a newer agent-viz-monitor is refused untouched."""

    def test_refused_unchanged(self, tmp_path: Path) -> None:
        """SchemaVersionError names the path and the versions; the file bytes do not change."""
        path = tmp_path / "future.db"
        with EventStore(path) as opened:
            opened.create_session(session_key="registered:keep")
        with connect(path) as conn:
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')",
                (CURRENT_VERSION + 1,),
            )
        before = sha256(path)
        with pytest.raises(SchemaVersionError) as caught:
            EventStore(path)
        message = str(caught.value)
        assert str(path) in message
        assert str(CURRENT_VERSION + 1) in message
        assert caught.value.path == str(path)
        assert sha256(path) == before
        with connect(path) as conn:
            assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == (
                CURRENT_VERSION + 1
            )

    def test_refused_readonly(self, tmp_path: Path) -> None:
        """The query commands' read-only open refuses it as well, naming the path."""
        path = tmp_path / "future.db"
        with EventStore(path):
            pass
        with connect(path) as conn:
            conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
        before = sha256(path)
        with pytest.raises(SchemaVersionError, match=r"future\.db"):
            EventStore(path, readonly=True)
        assert sha256(path) == before


class TestReadonlyOlderDatabase:
    """A read-only open never migrates: an older or empty schema is an error, not a crash."""

    def test_seed_database_readonly(self, tmp_path: Path) -> None:
        """A version-1 database opened read-only raises StoreOpenError and stays version 1."""
        path = tmp_path / "seed.db"
        seed_database(path)
        before = sha256(path)
        with pytest.raises(StoreOpenError, match="older") as caught:
            EventStore(path, readonly=True)
        assert str(path) in str(caught.value)
        assert sha256(path) == before

    def test_empty_file_readonly(self, tmp_path: Path) -> None:
        """An empty file (a daemon that has not migrated yet) raises StoreOpenError."""
        path = tmp_path / "empty.db"
        path.touch()
        with pytest.raises(StoreOpenError, match="daemon"):
            EventStore(path, readonly=True)
        assert path.read_bytes() == b""


def failing_apply(*, fail_with: type[BaseException]) -> Callable[[sqlite3.Connection], None]:
    """A migration that runs DDL and DML, then fails midway."""

    def apply(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        conn.execute("INSERT INTO half_done VALUES (1)")
        conn.execute("ALTER TABLE sessions ADD COLUMN half_column TEXT")
        conn.execute("DELETE FROM events")
        if fail_with is sqlite3.OperationalError:
            conn.execute("SELECT * FROM no_such_table")
        raise fail_with("migration failed midway")

    return apply


def tables_of(path: Path) -> set[str]:
    with connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


class TestFailingMigration:
    """Each migration is its own transaction: a failure leaves the previous version."""

    @pytest.mark.parametrize("fail_with", [RuntimeError, sqlite3.OperationalError])
    def test_stays_at_version_one(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_with: type[BaseException]
    ) -> None:
        """A failing version-2 migration leaves the seed database as it was, rows and all."""
        path = tmp_path / "seed.db"
        seed_database(path)
        before_schema = schema_of(path)
        monkeypatch.setattr(
            migrate_module,
            "MIGRATIONS",
            (MIGRATIONS[0], Migration(2, "boom", failing_apply(fail_with=fail_with))),
        )
        expected = StoreOpenError if fail_with is sqlite3.OperationalError else RuntimeError
        with pytest.raises(expected) as caught:
            EventStore(path)
        if expected is StoreOpenError:
            assert str(path) in str(caught.value)
            assert "no_such_table" in str(caught.value)
        with connect(path) as conn:
            assert read_version(conn) == 1
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(SEED_EVENTS)
        assert "half_done" not in tables_of(path)
        assert "schema_version" not in tables_of(path)
        after_schema = schema_of(path)
        assert after_schema == before_schema  # no half_column, nothing renamed

    def test_stays_at_version_two(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With three steps and the third failing, steps 1→2 stay committed at version 2."""
        path = tmp_path / "seed.db"
        seed_database(path)
        third = Migration(3, "boom", failing_apply(fail_with=RuntimeError))
        monkeypatch.setattr(migrate_module, "MIGRATIONS", (*MIGRATIONS[:2], third))
        monkeypatch.setattr(migrate_module, "CURRENT_VERSION", 3)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            with pytest.raises(RuntimeError, match="midway"):
                migrate(conn, str(path), target=3)
            assert read_version(conn) == 2
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(SEED_EVENTS)
            assert not conn.in_transaction
        finally:
            conn.close()
        assert "half_done" not in tables_of(path)
        reference = tmp_path / "reference.db"
        seed_database(reference)
        with connect(reference) as conn:
            migrate(conn, str(reference), target=2)
        assert schema_of(path) == schema_of(reference)

    def test_retry_after_fix(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a failed upgrade, opening with the real migrations succeeds."""
        path = tmp_path / "seed.db"
        seed_database(path)
        with monkeypatch.context() as patch:
            patch.setattr(
                migrate_module,
                "MIGRATIONS",
                (MIGRATIONS[0], Migration(2, "boom", failing_apply(fail_with=RuntimeError))),
            )
            with pytest.raises(RuntimeError):
                EventStore(path)
        with EventStore(path) as opened:
            assert opened.health_check()["schema_version"] == CURRENT_VERSION
            assert len(opened.get_events()) == len(SEED_EVENTS)


class TestSinkFeedUpgrade:
    """Version 3 (the previous release) → 5: the sink tables appear empty; rows, offsets and
    sessions survive; no trigger is added (a store without a sink pays nothing per write)."""

    def test_version_three_upgraded(self, tmp_path: Path) -> None:
        path = tmp_path / "v3.db"
        seed_database(path)
        with connect(path) as conn:
            migrate(conn, str(path), target=3)
            assert read_version(conn) == 3
            conn.execute(
                "INSERT INTO files (path, agent, offset, updated_at) "
                "VALUES ('/t/a.jsonl', 'claude-code', 1234, '2025-11-14T10:00:00.000Z')"
            )
            before = {
                t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("sessions", "events", "files")
            }
        with EventStore(path) as opened:
            conn = opened.connection
            assert opened.health_check()["schema_version"] == CURRENT_VERSION
            after = {
                t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
                for t in ("sessions", "events", "files")
            }
            assert after == before
            assert conn.execute("SELECT COUNT(*) FROM sink_cursors").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM sink_changes").fetchone()[0] == 0
            names = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            assert conn.execute(names).fetchall() == []
        assert schema_of(path)["columns"] == fresh_schema(tmp_path)["columns"]


def version_six_database(path: Path) -> None:
    """A version-6 database with a Claude call (key = call id), a Codex patch's two file
    operations (key ≠ call id, one call id) and a file's offset, all pending."""
    with connect(path) as conn:
        migrate(conn, str(path), target=6)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO sessions (id, session_key, agent, created_at, updated_at) VALUES "
            "(1, 'claude-code:s1', 'claude-code', 't', 't'), (2, 'codex:s2', 'codex', 't', 't')"
        )
        conn.executemany(
            "INSERT INTO events (session_id, agent_event_id, timestamp, event_type, "
            "tool_call_id, file_path, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 't')",
            [
                (1, "toolu_A", "2025-11-14T10:00:00.000Z", "command", "toolu_A", None, "pending"),
                (2, "l:77:0", "2025-11-14T10:00:00.000Z", "file_op", "call_B", "/a", "pending"),
                (2, "l:77:1", "2025-11-14T10:00:00.000Z", "file_op", "call_B", "/b", "pending"),
                (2, "l:78", "2025-11-14T10:00:01.000Z", "message", None, None, None),
            ],
        )
        conn.execute(
            "INSERT INTO files (path, agent, session_id, offset, updated_at) "
            "VALUES ('/t/s2.jsonl', 'codex', 2, 4096, 't')"
        )
        conn.execute("COMMIT")


class TestCallKeyMigration:
    """Version 7 narrows idx_events_tool_call to rows whose call id is not their key."""

    def test_rows_survive_and_both_kinds_of_call_complete(self, tmp_path: Path) -> None:
        """After the upgrade every row and offset is unchanged, and a result completes the
        Claude call (found by the natural key) and both rows of the Codex call (by the index)."""
        path = tmp_path / "v6.db"
        version_six_database(path)
        with connect(path) as conn:
            events = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
        with EventStore(path) as store:
            conn = store.connection
            assert read_version(conn) == 7
            after = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
            assert [tuple(row) for row in after] == events
            assert [tuple(row) for row in conn.execute("SELECT offset FROM files")] == [(4096,)]
            indexed = conn.execute(
                "SELECT agent_event_id FROM events INDEXED BY idx_events_tool_call "
                "WHERE session_id = 2 AND tool_call_id = 'call_B' "
                "AND tool_call_id != agent_event_id ORDER BY id"
            ).fetchall()
            assert [tuple(row) for row in indexed] == [("l:77:0",), ("l:77:1",)]
            apply_results(store, [
                ToolResult("claude-code:s1", "toolu_A", "2025-11-14T10:00:02.000Z", "success"),
                ToolResult("codex:s2", "call_B", "2025-11-14T10:00:03.000Z", "error"),
            ])  # fmt: skip
            done = conn.execute(
                "SELECT agent_event_id, status, duration_ms FROM events "
                "WHERE tool_call_id IS NOT NULL ORDER BY id"
            ).fetchall()
            done = [tuple(row) for row in done]
        assert done == [("toolu_A", "success", 2000), ("l:77:0", "error", 3000),
                        ("l:77:1", "error", 3000)]  # fmt: skip


def apply_results(store: EventStore, results: list[ToolResult]) -> None:
    """Apply ``results`` as the writer does: one transaction through ``apply_records``."""
    conn = store.connection
    conn.execute("BEGIN IMMEDIATE")
    out = apply_records(conn, list(results), "2025-11-14T11:00:00.000Z", SessionKeys())
    conn.execute("COMMIT")
    assert (out.results_applied, out.results_parked) == (len(results), 0)
