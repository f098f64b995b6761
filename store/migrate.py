"""Schema versions and the ordered registry of forward migrations.

A new database gets ``schema.sql`` whole and the current version. An older one is brought
forward one migration at a time, each in its own ``BEGIN IMMEDIATE`` transaction, so a crash
mid-upgrade leaves the database at the last completed version. A database whose version is
newer than this code raises ``SchemaVersionError``: we never downgrade or guess.

Version 1 is the seed's schema, which had no ``schema_version`` table: it is recognised by its
``sessions.copilot_session_id`` column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from config.errors import SchemaVersionError

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "Migration", "current_schema_sql", "migrate"]


def _read(name: str) -> str:
    # Beside this module, as ``importlib.resources.files("store")`` finds it in an installed
    # package, without importing that (with tempfile, shutil, zipfile: 6 ms of every start-up).
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def current_schema_sql() -> str:
    """The current tables, indexes and views (without ``schema_version``)."""
    text = _read("schema.sql")
    start = text.index("CREATE TABLE sessions")
    return text[start:]


def _frozen(name: str) -> str:
    """A migration's own copy of a schema: later versions must not change what it builds."""
    return _read(f"migrations/{name}")


def _apply_seed(conn: sqlite3.Connection) -> None:
    _run_script(conn, _read("migrations/0001_seed.sql"))


def _apply_all_agents(conn: sqlite3.Connection) -> None:
    before, _, after = _read("migrations/0002_all_agents.sql").partition("-- @schema")
    _run_script(conn, before)
    _run_script(conn, _frozen("0002_schema.sql"))
    _run_script(conn, after.partition("\n")[2])


def _apply_session_facts(conn: sqlite3.Connection) -> None:
    _run_script(conn, _frozen("0003_session_facts.sql"))


def _apply_usage_replays(conn: sqlite3.Connection) -> None:
    _run_script(conn, _frozen("0004_usage_replays.sql"))


def _apply_sink_feed(conn: sqlite3.Connection) -> None:
    _run_script(conn, _frozen("0005_sink_feed.sql"))


def _apply_usage_index(conn: sqlite3.Connection) -> None:
    _run_script(conn, _frozen("0006_usage_index.sql"))


def _apply_call_key(conn: sqlite3.Connection) -> None:
    _run_script(conn, _frozen("0007_call_key.sql"))


class Migration(msgspec.Struct, frozen=True):
    """One forward step: ``apply`` turns version ``version - 1`` into ``version``."""

    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "seed schema (Copilot only)", _apply_seed),
    Migration(2, "all agents, natural keys, tailing state", _apply_all_agents),
    Migration(3, "session start, reasoning tokens, previews, usage_daily", _apply_session_facts),
    Migration(4, "Claude responses counted once across sessions", _apply_usage_replays),
    Migration(5, "sink cursors and change feed", _apply_sink_feed),
    Migration(6, "covering index of usage events for the usage reports", _apply_usage_index),
    Migration(7, "tool calls found by their natural key where it is the call id", _apply_call_key),
)
CURRENT_VERSION = MIGRATIONS[-1].version


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the caller's transaction.

    ``executescript`` would COMMIT first, which would break one-transaction-per-migration.
    """
    for statement in _statements(script):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    out: list[str] = []
    buffer = ""
    for line in lines:
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


def read_version(conn: sqlite3.Connection) -> int:
    """The database's schema version; 0 for an empty database."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" in tables:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if row and row[0] is not None:
            return int(row[0])
    if "sessions" in tables:
        return 1  # the seed's schema predates schema_version
    return 0


def migrate(conn: sqlite3.Connection, path: str, target: int = CURRENT_VERSION) -> int:
    """Bring the database to ``target``; return the version it had before."""
    version = read_version(conn)
    if version > CURRENT_VERSION:
        raise SchemaVersionError(
            path,
            f"database schema version {version} is newer than this agent-viz-monitor "
            f"supports ({CURRENT_VERSION}); upgrade agent-viz-monitor",
        )
    if version == 0 and target == CURRENT_VERSION:
        _in_transaction(conn, _fresh, CURRENT_VERSION)
        return 0
    for step in MIGRATIONS:
        if version < step.version <= target:
            _in_transaction(conn, step.apply, step.version)
    return version


def _fresh(conn: sqlite3.Connection) -> None:
    _run_script(conn, current_schema_sql())


def _in_transaction(
    conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], None], version: int
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Checked again under the write lock: another process may have migrated meanwhile.
        if read_version(conn) >= version:
            conn.execute("ROLLBACK")
            return
        work(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (version, datetime.now(UTC).isoformat(timespec="milliseconds")),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
