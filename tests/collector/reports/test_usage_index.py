"""Migration 6 (the covering index of usage events) on a database made by version 3: rows,
offsets and sessions survive, and the usage reads walk the new index."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from store.connection import open_database
from store.migrate import MIGRATIONS, read_version
from store.reads.usage import usage_cells


def test_version_3_database_gains_the_index(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for step in MIGRATIONS:
            if step.version <= 3:
                step.apply(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                     "applied_at TEXT NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO schema_version VALUES (3, 'then')")
        conn.execute("INSERT INTO sessions (session_key, agent, created_at, updated_at) "
                     "VALUES ('claude-code:s', 'claude-code', 'x', 'x')")  # fmt: skip
        conn.execute(
            "INSERT INTO events (session_id, agent_event_id, timestamp, event_type, model, "
            "input_tokens, output_tokens, created_at) VALUES "
            "(1, 'usage:1', '2026-01-01T00:00:00.000Z', 'usage', 'gpt-5', 7, 3, 'x')"
        )
        conn.execute("INSERT INTO files (path, agent, offset, updated_at) "
                     "VALUES ('/t.jsonl', 'claude-code', 1234, 'x')")  # fmt: skip
    open_database(path).close()  # the daemon's open migrates
    with closing(open_database(path, readonly=True)) as conn:
        assert read_version(conn) == MIGRATIONS[-1].version
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "idx_events_usage" in indexes
        assert conn.execute("SELECT offset FROM files").fetchone() == (1234,)
        cells = usage_cells(conn)
        assert [(c.session_id, c.input_tokens, c.output_tokens) for c in cells] == [(1, 7, 3)]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT SUM(input_tokens) FROM events "
            "INDEXED BY idx_events_usage WHERE event_type = 'usage'"
        ).fetchall()
        assert "COVERING INDEX idx_events_usage" in str(plan)
