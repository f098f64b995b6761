"""Upgrading a store that the previous release really wrote (schema version 2 → current).

``tests/fixtures/store/v2-release.db`` was made by that release's daemon over the transcripts
``upgrade_layout.LAYOUT`` names. The test puts the same transcripts under a new HOME, points the
old store's file rows at them (as if on the machine that wrote it), and runs today's daemon:
every row, offset and session must survive, and the daemon must resume from the stored offsets
instead of reading the transcripts again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from store import CURRENT_VERSION
from tests.collector.service.daemon_harness import Instance
from tests.store.upgrade_layout import V2_DATABASE, V2_HOME, lay_out

EVENT_COLUMNS = (
    "id, session_id, agent_event_id, parent_event_id, timestamp, event_type, tool_name, "
    "tool_call_id, tool_arguments, file_path, operation, command, command_category, status, "
    "duration_ms, exit_code, model, input_tokens, output_tokens, cache_read_tokens, "
    "cache_creation_tokens, source, source_offset, raw_data, created_at"
)
SESSION_COLUMNS = (
    "id, session_key, agent, agent_session_id, project_dir, parent_session_id, git_branch, "
    "model, agent_version, title, spawned_at, last_activity, created_at"
)
FILE_COLUMNS = (
    "path, agent, session_id, offset, head_hash, marker_hash, parser_state, lines, resets"
)


def rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def adopt(database: Path, home: Path) -> None:
    """Point the old store's paths and file identities at the transcripts under ``home``."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for table, column in (("files", "path"), ("sessions", "transcript_path"),
                              ("parse_problems", "file_path")):  # fmt: skip
            conn.execute(
                f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (V2_HOME, str(home))
            )
        for (path,) in conn.execute("SELECT path FROM files").fetchall():
            info = os.stat(path)
            conn.execute(
                "UPDATE files SET dev = ?, inode = ? WHERE path = ?",
                (info.st_dev, info.st_ino, path),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.fixture
def upgraded(tmp_path: Path) -> tuple[Instance, dict[str, list[tuple[Any, ...]]]]:
    """An instance holding the old release's store and transcripts, before today's daemon ran."""
    instance = Instance(tmp_path)
    lay_out(instance.home)
    instance.database.parent.mkdir(parents=True, mode=0o700)
    shutil.copyfile(V2_DATABASE, instance.database)
    instance.database.chmod(0o600)
    adopt(instance.database, instance.home)
    before = {
        "events": rows(instance.database, f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id"),
        "sessions": rows(instance.database, f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id"),
        "files": rows(instance.database, f"SELECT {FILE_COLUMNS} FROM files ORDER BY path"),
    }
    return instance, before


def lines_read(log: str) -> int:
    """``lines_read`` from a ``run --once`` log's ``daemon_stopped`` line."""
    stopped = [orjson.loads(line) for line in log.splitlines() if '"daemon_stopped"' in line]
    return int(stopped[-1]["lines_read"])


class TestUpgradeFromPreviousRelease:
    """The v2 store written by the previous release's daemon, opened by today's."""

    def test_the_fixture_is_the_old_schema(self) -> None:
        """The committed store really is version 2, with rows of all four agents."""
        assert rows(V2_DATABASE, "SELECT MAX(version) FROM schema_version") == [(2,)]
        agents = {a for (a,) in rows(V2_DATABASE, "SELECT DISTINCT agent FROM sessions")}
        assert agents == {"claude-code", "codex", "copilot", "gemini"}
        columns = {r[1] for r in rows(V2_DATABASE, "PRAGMA table_info(sessions)")}
        assert "started_at" not in columns

    def test_rows_offsets_and_sessions_survive(
        self, upgraded: tuple[Instance, dict[str, list[tuple[Any, ...]]]]
    ) -> None:
        """After ``run --once`` the old rows are unchanged and nothing was read again."""
        instance, before = upgraded
        proc = instance.run("run", "--once")
        assert proc.returncode == 0, proc.stderr
        database = instance.database
        assert rows(database, "SELECT MAX(version) FROM schema_version") == [(CURRENT_VERSION,)]
        assert rows(database, f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id") == before["events"]
        sessions = rows(database, f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id")
        assert sessions == before["sessions"]
        assert rows(database, f"SELECT {FILE_COLUMNS} FROM files ORDER BY path") == before["files"]
        assert rows(database, "PRAGMA integrity_check") == [("ok",)]

    def test_started_at_filled_from_stored_events(
        self, upgraded: tuple[Instance, dict[str, list[tuple[Any, ...]]]]
    ) -> None:
        """The migration gives every session with events its first event's time."""
        instance, _ = upgraded
        assert instance.run("run", "--once").returncode == 0
        first = (
            "SELECT session_id, MIN(timestamp) FROM events "
            "WHERE event_type != 'status_change' GROUP BY session_id ORDER BY 1"
        )
        expected = rows(instance.database, first)
        started = "SELECT id, started_at FROM sessions WHERE started_at IS NOT NULL ORDER BY id"
        got = rows(instance.database, started)
        assert got == expected
        assert len(got) >= 8

    def test_resumes_at_the_stored_offset(
        self, upgraded: tuple[Instance, dict[str, list[tuple[Any, ...]]]]
    ) -> None:
        """A line appended after the upgrade is the only line the daemon reads."""
        instance, before = upgraded
        transcript = next(instance.home.glob(".claude/projects/-work-hello/*.jsonl"))
        last = transcript.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        line = orjson.loads(last)
        line["uuid"] = "0b0b0b0b-0000-4000-8000-00000000beef"
        line["timestamp"] = "2030-01-01T00:00:00.000Z"
        with transcript.open("ab") as out:
            out.write(orjson.dumps(line) + b"\n")
        proc = instance.run("run", "--once")
        assert proc.returncode == 0, proc.stderr
        assert lines_read(proc.stdout + proc.stderr) == 1
        newest = before["events"][-1][0]
        added = rows(instance.database, f"SELECT timestamp FROM events WHERE id > {newest}")
        assert added
        assert {ts for (ts,) in added} == {"2030-01-01T00:00:00.000Z"}
