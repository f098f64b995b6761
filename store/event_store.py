"""``EventStore``: the seed's store API in Python names, over one SQLite connection.

Every value is a bound parameter; column names in filters and updates come only from the fixed
sets below, and an unknown key raises ``ValueError`` naming it. JSON columns (``tool_arguments``,
``raw_data``) accept any JSON-able value and come back decoded. Timestamps are normalised to the
contract's form on the way in.

The store is used from one thread at a time (the writer thread owns the daemon's store; the
query commands open their own, read-only).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from config.errors import StoreError
from store.batch import SessionKeys, apply_records
from store.connection import BUSY_TIMEOUT_MS, open_database, wal_checkpoint
from store.migrate import read_version
from store.records import Event
from store.timestamps import normalize_timestamp

__all__ = ["EventStore"]

Row = dict[str, Any]

SESSION_FIELDS = frozenset({
    "session_key", "agent", "agent_session_id", "project_dir", "task_file", "spawned_at",
    "spawned_by", "status", "importance", "pid", "pid_started_at", "last_activity",
    "transcript_path", "parent_session_id", "parent_tool_call_id", "ended_at", "git_branch",
    "model", "agent_version", "title", "tmux_target",
})  # fmt: skip
STATUSES = frozenset({"running", "idle", "waiting", "completed", "crashed", "stopped", "unknown"})
_SESSION_TIME_FIELDS = frozenset({"spawned_at", "pid_started_at", "last_activity", "ended_at"})
_JSON_FIELDS = ("tool_arguments", "raw_data")
_EVENT_FILTERS = ("event_type", "tool_name", "file_path", "command_category", "status")


def _now() -> str:
    return normalize_timestamp(datetime.now(UTC).isoformat()) or ""


class EventStore:
    """The event store at ``path``; opened (and created/migrated) on construction."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        manual_checkpoint: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = str(path)
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = open_database(
            self.path,
            readonly=readonly,
            manual_checkpoint=manual_checkpoint,
            busy_timeout_ms=busy_timeout_ms,
        )
        self._conn.row_factory = sqlite3.Row
        self._keys = SessionKeys()

    # lifecycle ------------------------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection; raises ``StoreError`` after ``close()``."""
        if self._conn is None:
            raise StoreError(self.path, "store is closed")
        return self._conn

    def close(self) -> None:
        """Close the connection; idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # sessions -------------------------------------------------------------------------------
    def create_session(self, **fields: Any) -> Row:
        """Insert a session and return it; ``session_key`` defaults to ``registered:<uuid>``.

        ``parent_session_id`` may be given as an id or a session key. The seed's own names
        work as written: a string ``id`` is the session key (``get_session`` finds it by that
        string) and ``copilot_session_id`` is the agent's session id.
        """
        fields = _seed_names(fields)
        _check_keys(fields, SESSION_FIELDS, "session field")
        values = _session_values(fields)
        values.setdefault("session_key", f"registered:{uuid.uuid4()}")
        values.setdefault("agent", "unknown")
        now = _now()
        values.setdefault("spawned_at", now)
        values["created_at"] = values["updated_at"] = now
        with self._transaction() as conn:
            if isinstance(values.get("parent_session_id"), str):
                values["parent_session_id"] = self._keys.resolve(
                    conn, values["parent_session_id"], now
                )
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            conn.execute(
                f"INSERT INTO sessions ({columns}) VALUES ({marks})", list(values.values())
            )
        session = self.get_session(values["session_key"])
        assert session is not None
        return session

    def update_session(self, session: int | str, **fields: Any) -> Row | None:
        """Set the given fields of a session (by id or key); returns the row (None if absent)."""
        _check_keys(fields, SESSION_FIELDS - {"session_key"}, "session field")
        values = _session_values(fields)
        if values:
            values["updated_at"] = _now()
            assignments = ", ".join(f"{name} = ?" for name in values)
            column = "id" if isinstance(session, int) else "session_key"
            with self._transaction() as conn:
                conn.execute(
                    f"UPDATE sessions SET {assignments} WHERE {column} = ?",
                    [*values.values(), session],
                )
        return self.get_session(session)

    def get_session(self, session: int | str) -> Row | None:
        """The session with this integer id or session key, or None."""
        column = "id" if isinstance(session, int) else "session_key"
        found = self.connection.execute(
            f"SELECT * FROM sessions WHERE {column} = ?", (session,)
        ).fetchone()
        return dict(found) if found else None

    def list_sessions(self, **filters: Any) -> list[Row]:
        """Sessions, newest activity first.

        Filters: status, importance, project_dir, agent, since (last activity or creation).
        """
        _check_keys(filters, {"status", "importance", "project_dir", "agent", "since"}, "filter")
        where, params = [], []
        for name in ("status", "importance", "project_dir", "agent"):
            if filters.get(name) is not None:
                where.append(f"{name} = ?")
                params.append(filters[name])
        if filters.get("since") is not None:
            where.append("COALESCE(last_activity, created_at) >= ?")
            params.append(_timestamp_param(filters["since"], "since"))
        sql = "SELECT * FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # Newest activity first; sessions with no activity yet (placeholders) last.
        sql += " ORDER BY last_activity IS NULL, last_activity DESC, id DESC"
        return [dict(row) for row in self.connection.execute(sql, params)]

    # events ---------------------------------------------------------------------------------
    def insert_event(self, event: Event | Mapping[str, Any]) -> bool:
        """Insert one event; False when an event with the same natural key exists."""
        return self.insert_events([event]) == 1

    def insert_events(self, events: Iterable[Event | Mapping[str, Any]]) -> int:
        """Insert events in one transaction; returns how many were new."""
        records = [_as_event(item, self._session_key) for item in events]
        with self._transaction() as conn:
            return apply_records(conn, records, _now(), self._keys).events_inserted

    def get_events(self, session_id: int | str | None = None, **filters: Any) -> list[Row]:
        """Events in time order (``newest_first=True``: reversed); filters as the seed's
        getEvents plus since/until/limit/offset. ``session_id`` is the integer id or the key.
        """
        allowed = {*_EVENT_FILTERS, "since", "until", "limit", "offset", "newest_first", "agent"}
        _check_keys(filters, allowed, "filter")
        where, params = self.event_conditions(session_id, filters)
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        order = "timestamp DESC, id DESC" if filters.get("newest_first") else "timestamp, id"
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        params += [_int_param(filters.get("limit"), -1), _int_param(filters.get("offset"), 0)]
        return [decode_event(row) for row in self.connection.execute(sql, params)]

    def event_conditions(
        self, session: int | str | None, filters: Mapping[str, Any]
    ) -> tuple[list[str], list[Any]]:
        """WHERE conditions on ``events`` and their parameters (column names from a fixed list)."""
        where: list[str] = []
        params: list[Any] = []
        if session is not None:
            where.append("session_id = ?")
            params.append(self.session_id_of(session))
        for name in _EVENT_FILTERS:
            if filters.get(name) is not None:
                where.append(f"{name} = ?")
                params.append(filters[name])
        if filters.get("agent") is not None:
            where.append("session_id IN (SELECT id FROM sessions WHERE agent = ?)")
            params.append(filters["agent"])
        for name, op in (("since", ">="), ("until", "<=")):
            if filters.get(name) is not None:
                where.append(f"timestamp {op} ?")
                params.append(_timestamp_param(filters[name], name))
        return where, params

    def get_event_by_agent_id(
        self, agent_event_id: str, session_id: int | str | None = None
    ) -> Row | None:
        """The event with the agent's own id (within ``session_id`` when given)."""
        sql = "SELECT * FROM events WHERE agent_event_id = ?"
        params: list[Any] = [agent_event_id]
        if session_id is not None:
            sql += " AND session_id = ?"
            params.append(self.session_id_of(session_id))
        row = self.connection.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
        return decode_event(row) if row else None

    # views ----------------------------------------------------------------------------------
    def file_activity(self, session_id: int | str | None = None) -> list[Row]:
        """Per session and file: operation counts and last modification."""
        return self._view("file_activity", session_id, "total_operations DESC, file_path")

    def command_stats(self, session_id: int | str | None = None) -> list[Row]:
        """Per session and command category: count, average duration, first and last run."""
        return self._view("command_stats", session_id, "count DESC, command_category")

    def _view(self, name: str, session_id: int | str | None, order: str) -> list[Row]:
        sql, params = f"SELECT * FROM {name}", []
        if session_id is not None:
            sql += " WHERE session_id = ?"
            params.append(self.session_id_of(session_id))
        return [dict(row) for row in self.connection.execute(f"{sql} ORDER BY {order}", params)]

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Copy WAL pages into the database: (busy, wal pages, pages checkpointed)."""
        return wal_checkpoint(self.connection, mode)

    # health ---------------------------------------------------------------------------------
    def health_check(self) -> Row:
        """Is the database usable: version, journal mode, counts, quick integrity check."""
        conn = self.connection
        try:
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
            counts = {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("sessions", "events", "files", "parse_problems")
            }
            return {
                "ok": integrity == "ok",
                "path": self.path,
                "schema_version": read_version(conn),
                "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
                "integrity": integrity,
                **counts,
            }
        except sqlite3.Error as exc:
            return {"ok": False, "path": self.path, "error": str(exc)}

    # internals ------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self.connection, self._keys)

    def _session_key(self, session_id: int) -> str:
        row = self.connection.execute(
            "SELECT session_key FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise ValueError(f"no session with id {session_id}")
        return str(row[0])

    def session_id_of(self, session: int | str) -> int:
        """The integer id of a session given by id or key (-1 when the key is unknown)."""
        if isinstance(session, int):
            return session
        row = self.connection.execute(
            "SELECT id FROM sessions WHERE session_key = ?", (session,)
        ).fetchone()
        return int(row[0]) if row else -1


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection, keys: SessionKeys) -> None:
        self.conn = conn
        self.keys = keys

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
            self.keys.forget()


def _check_keys(given: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    allowed_set = frozenset(allowed)
    for key in given:
        if key not in allowed_set:
            raise ValueError(f"unknown {what} {key!r}; allowed: {', '.join(sorted(allowed_set))}")


def _seed_names(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's ``id`` (a string key) and ``copilot_session_id`` in today's names."""
    values = dict(fields)
    if "id" in values:
        key = values.pop("id")
        if not isinstance(key, str) or not key or "session_key" in values:
            raise ValueError("session field 'id' must be a string key (or use session_key)")
        values["session_key"] = key
    if "copilot_session_id" in values:
        if "agent_session_id" in values:
            raise ValueError("give copilot_session_id or agent_session_id, not both")
        values["agent_session_id"] = values.pop("copilot_session_id")
        values.setdefault("agent", "copilot")
    return values


def _session_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "status" in values and values["status"] not in STATUSES:
        raise ValueError(f"invalid status {values['status']!r}; allowed: {sorted(STATUSES)}")
    for name in _SESSION_TIME_FIELDS & values.keys():
        if values[name] is not None:
            values[name] = _timestamp_param(values[name], name)
    return values


def _timestamp_param(value: Any, name: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    normal = normalize_timestamp(value)
    if normal is None:
        raise ValueError(f"{name}: not a timestamp: {value!r}")
    return normal


def _int_param(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"limit/offset must be integers, got {value!r}")
    return value


_EVENT_FIELDS = frozenset(Event.__match_args__)


def _as_event(item: Event | Mapping[str, Any], key_of: Callable[[int], str]) -> Event:
    if isinstance(item, Event):
        return item
    values = dict(item)
    _check_keys(values, _EVENT_FIELDS, "event field")
    if isinstance(values.get("session_id"), int):
        values["session_id"] = key_of(values["session_id"])
    for name in _JSON_FIELDS:
        if values.get(name) is not None and not isinstance(values[name], str):
            values[name] = json.dumps(values[name], ensure_ascii=False)
    if "agent_event_id" not in values:
        values["agent_event_id"] = str(uuid.uuid4())
    stamp = normalize_timestamp(values.get("timestamp"))
    if stamp is None:
        raise ValueError(f"timestamp: not a timestamp: {values.get('timestamp')!r}")
    values["timestamp"] = stamp
    for required in ("session_id", "event_type"):
        if not values.get(required):
            raise ValueError(f"event field {required!r} is required")
    return Event(**values)


def decode_event(row: sqlite3.Row) -> Row:
    """An ``events`` row with its JSON columns parsed (capped JSON stays text)."""
    out = dict(row)
    for name in _JSON_FIELDS:
        text = out.get(name)
        if isinstance(text, str):
            with contextlib.suppress(ValueError):  # capped JSON is kept as text
                out[name] = json.loads(text)
    return out
