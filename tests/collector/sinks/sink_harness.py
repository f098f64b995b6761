"""Helpers for the sink tests: an isolated daemon instance configured to ship to a database of
the test server, the fixtures placed in its agent roots, and the comparison of the local store
with the central tables row by row."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from store.sink_local import EVENT_COLUMNS, SESSION_COLUMNS
from tests.collector.service.daemon_harness import FIXTURES, Instance
from tests.collector.sinks.pg_server import PgServer

Rows = dict[tuple[str, ...], dict[str, Any]]


def sink_instance(root: Path, pg: PgServer, dbname: str, **overrides: Any) -> Instance:
    """An instance whose ``[sinks.postgres]`` points at ``dbname`` over TCP with a password."""
    settings = {
        "sinks__postgres__enabled": "true",
        "sinks__postgres__dsn": f'"{pg.tcp_dsn(dbname)}"',
        "tracker__enabled": "false",
    }
    settings.update({k: str(v) for k, v in overrides.items()})
    return Instance(root, **settings)


def place_fixtures(instance: Instance, agents: tuple[str, ...] = ("claude", "codex")) -> None:
    """Copy the real transcripts of ``agents`` into the instance's roots."""
    if "claude" in agents:
        target = instance.claude / "-fixtures"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted((FIXTURES / "claude").glob("*.jsonl")):
            shutil.copy(path, target / path.name)
    if "codex" in agents:
        target = instance.codex / "2026" / "01" / "02"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted((FIXTURES / "codex").glob("*.jsonl")):
            name = path.name if path.name.startswith("rollout-") else f"rollout-{path.name}"
            shutil.copy(path, target / name)


def call_and_result(session: str, n: int, at: datetime | None = None) -> tuple[bytes, bytes]:
    """A Claude Bash tool call and, separately, its result (which completes the call in place);
    at ``at`` (default: a fixed day in 2026)."""
    base = at or datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    stamp = (base + timedelta(seconds=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    later = (base + timedelta(seconds=n + 1.5)).isoformat(timespec="milliseconds")
    call = {"type": "assistant", "sessionId": session, "uuid": f"a-{n}", "timestamp": stamp,
            "cwd": "/work/live",
            "message": {"id": f"msg-{n}", "role": "assistant", "model": "claude-opus-4-5",
                        "content": [{"type": "tool_use", "id": f"toolu_{n}", "name": "Bash",
                                     "input": {"command": f"echo {n}"}}]}}  # fmt: skip
    result = {"type": "user", "sessionId": session, "uuid": f"u-{n}",
              "timestamp": later.replace("+00:00", "Z"), "cwd": "/work/live",
              "message": {"role": "user", "content": [{
                  "type": "tool_result", "tool_use_id": f"toolu_{n}", "content": "ok",
                  "is_error": False}]}}  # fmt: skip
    return orjson.dumps(call) + b"\n", orjson.dumps(result) + b"\n"


def local_events(database: Path, include_raw: bool = False) -> Rows:
    """Every local event as the sink ships it, by (session_key, agent_event_id)."""
    cols = ", ".join(
        "s.session_key" if c == "session_key" else ("NULL" if c == "raw_data" and not include_raw
                                                    else f"e.{c}")
        for c in EVENT_COLUMNS
    )  # fmt: skip
    sql = f"SELECT {cols} FROM events e JOIN sessions s ON s.id = e.session_id"
    return _by_key(_local(database, sql), EVENT_COLUMNS, ("session_key", "agent_event_id"))


def local_sessions(database: Path) -> Rows:
    cols = ", ".join(f"s.{c}" for c in SESSION_COLUMNS[:-1]) + ", p.session_key"
    sql = f"SELECT {cols} FROM sessions s LEFT JOIN sessions p ON p.id = s.parent_session_id"
    return _by_key(_local(database, sql), SESSION_COLUMNS, ("session_key",))


def central_events(dsn: str, machine: str) -> tuple[Rows, int]:
    """The central events of ``machine`` by natural key, and how many rows there are."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE machine_id = %s", (machine,)
        ).fetchall()
    return _by_key(rows, EVENT_COLUMNS, ("session_key", "agent_event_id")), len(rows)


def central_sessions(dsn: str, machine: str) -> Rows:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE machine_id = %s", (machine,)
        ).fetchall()
    return _by_key(rows, SESSION_COLUMNS, ("session_key",))


def machines(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT machine_id FROM events ORDER BY 1")]


def _local(database: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _by_key(rows: list[Any], columns: tuple[str, ...], key: tuple[str, ...]) -> Rows:
    out: Rows = {}
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        out[tuple(str(record[k]) for k in key)] = record
    return out
