"""One batch into the central tables: COPY into temporary staging tables, then one upsert per
table, all in one PostgreSQL transaction.

The upsert's key is the natural key (``machine_id, session_key`` for sessions, plus
``agent_event_id`` for events), so shipping a batch again — after a crash between the remote
commit and the local cursor's — changes nothing. A row whose columns are all unchanged is not
rewritten (no dead tuple, no WAL). The batch first checks the central schema's version under a
``agent_viz_schema``: a machine with newer code that migrated meanwhile stops
this one at once instead of after its next reconnect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from config.errors import CentralSchemaError
from store.postgres.schema import CENTRAL_VERSION
from store.sink_local import EVENT_COLUMNS, SESSION_COLUMNS, Pending

__all__ = ["prepare_connection", "ship_batch", "shipped_cursor"]

_SESSION_KEY = ("machine_id", "session_key")
_EVENT_KEY = ("machine_id", "session_key", "agent_event_id")


def prepare_connection(conn: psycopg.Connection[Any], statement_timeout_ms: int) -> None:
    """Once per connection, after ``ensure_schema``: a statement timeout (a batch that takes
    longer is cancelled and retried smaller) unless the DSN or the role set one, and this
    connection's staging tables."""
    row = conn.execute("SELECT current_setting('statement_timeout')").fetchone()
    if row is None or row[0] in ("0", "0ms"):
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
    with conn.transaction():
        for table in ("sessions", "events"):
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    rest = [c for c in columns if c not in key]
    sets = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in rest
    )
    mine = sql.SQL(", ").join(
        sql.SQL("{t}.{c}").format(t=sql.Identifier(table), c=sql.Identifier(c)) for c in rest
    )
    theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in rest)
    return sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} "
        "ON CONFLICT ({key}) DO UPDATE SET {sets}, shipped_at = now() "
        "WHERE ({mine}) IS DISTINCT FROM ({theirs})"
    ).format(
        t=sql.Identifier(table), cols=cols, stage=sql.Identifier(f"stage_{table}"),
        key=sql.SQL(", ").join(map(sql.Identifier, key)), sets=sets, mine=mine, theirs=theirs,
    )  # fmt: skip


_SESSION_COLUMNS = ("machine_id", *SESSION_COLUMNS)
_EVENT_COLUMNS = ("machine_id", *EVENT_COLUMNS)
_UPSERT_SESSIONS = _upsert("sessions", _SESSION_COLUMNS, _SESSION_KEY)
_UPSERT_EVENTS = _upsert("events", _EVENT_COLUMNS, _EVENT_KEY)
_COPY = "COPY {} ({}) FROM STDIN"
_SEEN = (
    "INSERT INTO machines (machine_id, label, event_cursor, change_cursor) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (machine_id) DO UPDATE SET label = EXCLUDED.label, "
    "last_seen = now(), event_cursor = EXCLUDED.event_cursor, "
    "change_cursor = EXCLUDED.change_cursor"
)


def shipped_cursor(conn: psycopg.Connection[Any], machine: str) -> tuple[int, int] | None:
    """The cursor committed centrally with ``machine``'s last batch (None: never shipped)."""
    row = conn.execute(
        "SELECT event_cursor, change_cursor FROM machines WHERE machine_id = %s", (machine,)
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def ship_batch(
    conn: psycopg.Connection[Any],
    machine: str,
    label: str,
    batch: Pending,
) -> None:
    """Upsert the batch's sessions and events (rows in ``SESSION_COLUMNS`` / ``EVENT_COLUMNS``
    order) for ``machine``, and its cursor, in one transaction; raises on any failure,
    committing nothing."""
    sessions, events = batch.sessions, batch.events
    with conn.transaction():
        row = conn.execute("SELECT max(version) FROM agent_viz_schema").fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version != CENTRAL_VERSION:
            raise CentralSchemaError(
                f"central schema version {version} changed under us (this agent-viz-monitor "
                f"writes version {CENTRAL_VERSION}); upgrade agent-viz-monitor on this machine"
                if version > CENTRAL_VERSION else
                f"central schema version {version} is not the {CENTRAL_VERSION} we created"
            )  # fmt: skip
        conn.execute(_SEEN, (machine, label, batch.event_cursor, batch.change_cursor))
        if sessions:
            _copy(conn, "sessions", _SESSION_COLUMNS, machine, sessions)
            conn.execute(_UPSERT_SESSIONS)
        if events:
            _copy(conn, "events", _EVENT_COLUMNS, machine, events)
            conn.execute(_UPSERT_EVENTS)


def _copy(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    machine: str,
    rows: Sequence[Sequence[Any]],
) -> None:
    statement = sql.SQL(_COPY).format(
        sql.Identifier(f"stage_{table}"), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row((machine, *row))
