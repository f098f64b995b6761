"""Writing a batch of parser records inside the caller's transaction.

The writer thread calls ``apply_records`` between ``BEGIN IMMEDIATE`` and ``COMMIT`` together
with the files' new checkpoints, so events and offsets become durable together (or not at all).
Every statement is idempotent, which makes re-reading a transcript from byte 0 harmless:

- sessions are upserted field by field (None keeps the stored value);
- events are ``INSERT … ON CONFLICT (session_id, agent_event_id)``: a conflict adds nothing,
  except that token counts merge by maximum (Claude repeats a message's usage with growing
  ``output_tokens``; the maximum, never the sum, is the truth);
- tool results update the call row(s) by ``(session_id, tool_call_id)``, folded into the row
  when the call is inserted in the same batch (``store.completions``); a result that finds no
  call row is parked in ``pending_results`` and applied when the call arrives.
"""

from __future__ import annotations

import operator
import sqlite3
from collections import Counter
from collections.abc import Sequence
from itertools import compress

import msgspec
import orjson

from config import agents
from store.completions import Folds, Merged, complete, folded_sql, has_parked, merge_results, unpark
from store.crashpoint import crash_point
from store.cross_session import TOKEN_COLUMNS, inherit_parent_facts, replayed_usage
from store.records import (
    Event,
    ParseProblem,
    Record,
    SessionInfo,
    SessionStatus,
    ToolResult,
    ToolWait,
)
from store.waits import set_waits

__all__ = ["BatchResult", "SessionKeys", "apply_records", "event_row"]

_EVENT_COLUMNS = (
    "session_id", "agent_event_id", "parent_event_id", "timestamp", "event_type", "tool_name",
    "tool_call_id", "tool_arguments", "file_path", "operation", "command", "command_category",
    "status", "duration_ms", "exit_code", "model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "source_offset", "raw_data", "created_at",
    "reasoning_tokens", "cache_creation_1h_tokens", "wait_ms", "preview",
)  # fmt: skip

_ON_CONFLICT = (
    "ON CONFLICT (session_id, agent_event_id) DO UPDATE SET "
    + ", ".join(f"{t} = max(COALESCE({t}, 0), COALESCE(excluded.{t}, 0))" for t in TOKEN_COLUMNS)
    + " WHERE events.event_type = 'usage' AND excluded.event_type = 'usage'"
)


def _insert_sql(columns: Sequence[str]) -> str:
    return (
        f"INSERT INTO events ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)}) {_ON_CONFLICT}"
    )


INSERT_EVENT = _insert_sql(_EVENT_COLUMNS)
_WIDTH = len(_EVENT_COLUMNS)
_KEY_OF = operator.attrgetter("agent_event_id")
_CALL_OF = operator.attrgetter("tool_call_id")
_NONES = (None,) * _WIDTH
_SHAPED_SQL: dict[tuple[bool, ...], str] = {}
_FOLDED_SQL: dict[tuple[bool, ...], tuple[tuple[bool, ...], str]] = {}

_UPSERT_SESSION = """
INSERT INTO sessions (session_key, agent, agent_session_id, project_dir, transcript_path,
                      git_branch, model, agent_version, spawned_at, last_activity,
                      parent_session_id, parent_tool_call_id, title, created_at, updated_at,
                      started_at)
VALUES (:session_key, :agent, :agent_session_id, :project_dir, :transcript_path, :git_branch,
        :model, :agent_version, :first_seen, :last_activity, :parent_session_id,
        :parent_tool_call_id, :title, :now, :now, :first_seen)
ON CONFLICT (session_key) DO UPDATE SET
    agent = CASE WHEN excluded.agent != 'unknown' THEN excluded.agent ELSE agent END,
    agent_session_id = COALESCE(agent_session_id, excluded.agent_session_id),
    project_dir = COALESCE(excluded.project_dir, project_dir),
    transcript_path = COALESCE(excluded.transcript_path, transcript_path),
    git_branch = COALESCE(excluded.git_branch, git_branch),
    model = COALESCE(excluded.model, model),
    agent_version = COALESCE(excluded.agent_version, agent_version),
    spawned_at = CASE WHEN spawned_at IS NULL OR excluded.spawned_at < spawned_at
                      THEN COALESCE(excluded.spawned_at, spawned_at) ELSE spawned_at END,
    started_at = CASE WHEN started_at IS NULL OR excluded.started_at < started_at
                      THEN COALESCE(excluded.started_at, started_at) ELSE started_at END,
    last_activity = CASE WHEN last_activity IS NULL OR excluded.last_activity > last_activity
                      THEN COALESCE(excluded.last_activity, last_activity) ELSE last_activity END,
    parent_session_id = COALESCE(excluded.parent_session_id, parent_session_id),
    parent_tool_call_id = COALESCE(excluded.parent_tool_call_id, parent_tool_call_id),
    title = CASE WHEN :title_fallback AND title IS NOT NULL THEN title
                 ELSE COALESCE(excluded.title, title) END,
    updated_at = excluded.updated_at
"""


class BatchResult(msgspec.Struct):
    """What one ``apply_records`` call changed."""

    events_inserted: int = 0
    results_applied: int = 0
    results_parked: int = 0
    problems: int = 0
    first_event_id: int | None = None  # the inserted rows' ids (rowids only grow)
    last_event_id: int | None = None
    session_ids: set[int] = msgspec.field(default_factory=set)  # sessions whose status was set


class SessionKeys:
    """Maps our text session keys to the integer ``sessions.id``, creating rows on first use.

    One instance per connection. Ids learnt inside a transaction that rolls back may not exist:
    the owner calls ``forget()`` after any rollback.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def forget(self) -> None:
        """Drop every cached id (after a rollback)."""
        self._ids.clear()

    def known(self, key: str) -> int | None:
        """The id of session ``key`` if this connection has resolved it (no query)."""
        return self._ids.get(key)

    def resolve_all(self, conn: sqlite3.Connection, keys: list[str], now: str) -> list[int]:
        """The ids of sessions ``keys``, in order (``resolve`` each, a dict lookup if known)."""
        known = self._ids.get
        ids = list(map(known, keys))
        if None in ids:
            ids = [found if found is not None else self.resolve(conn, key, now)
                   for found, key in zip(ids, keys, strict=True)]  # fmt: skip
        return ids  # type: ignore[return-value]  # no None left

    def resolve(self, conn: sqlite3.Connection, key: str, now: str) -> int:
        """The id of session ``key``; a placeholder row is created when there is none."""
        found = self._ids.get(key)
        if found is not None:
            return found
        conn.execute(
            "INSERT OR IGNORE INTO sessions (session_key, agent, created_at, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (key, _agent_of(key), now, now),
        )
        row = conn.execute("SELECT id FROM sessions WHERE session_key = ?", (key,)).fetchone()
        self._ids[key] = int(row[0])
        return self._ids[key]


def event_row(event: Event, session_id: int, now: str) -> tuple[object, ...]:
    """The ``INSERT_EVENT`` parameters of ``event`` stored under ``session_id``."""
    return (
        session_id, event.agent_event_id, event.parent_event_id, event.timestamp,
        event.event_type, event.tool_name, event.tool_call_id, event.tool_arguments,
        event.file_path, event.operation, event.command, event.command_category, event.status,
        event.duration_ms, event.exit_code, event.model, event.input_tokens,
        event.output_tokens, event.cache_read_tokens, event.cache_creation_tokens,
        event.source_offset, event.raw_data, now, event.reasoning_tokens,
        event.cache_creation_1h_tokens, event.wait_ms, event.preview,
    )  # fmt: skip


def apply_records(
    conn: sqlite3.Connection, records: Sequence[Record], now: str, keys: SessionKeys
) -> BatchResult:
    """Write ``records`` in order inside the caller's open transaction."""
    result = BatchResult()
    sessions: list[SessionInfo] = []
    events: list[Event] = []
    completions: list[ToolResult] = []
    problems: list[ParseProblem] = []
    statuses: list[SessionStatus] = []
    waits: list[ToolWait] = []
    for record in records:
        if isinstance(record, Event):
            events.append(record)
        elif isinstance(record, ToolResult):
            completions.append(record)
        elif isinstance(record, SessionInfo):
            sessions.append(record)
        elif isinstance(record, SessionStatus):
            statuses.append(record)
        elif isinstance(record, ToolWait):
            waits.append(record)
        else:
            problems.append(record)
    if sessions:
        _upsert_sessions(conn, sessions, now, keys)
        crash_point("after_sessions")
    folds = None
    if events:
        inserted, folds = _insert_events(conn, events, completions, now, keys, out=result)
        result.events_inserted = inserted
        crash_point("after_events")
    if completions:
        _complete(conn, completions, folds, now, keys, out=result)
        crash_point("after_completions")
    if events and result.events_inserted and has_parked(conn):
        wanted = {(keys.resolve(conn, e.session_id, now), e.tool_call_id)
                  for e in events if e.tool_call_id}  # fmt: skip
        result.results_applied += unpark(conn, wanted)
    if problems:
        conn.executemany(
            "INSERT OR IGNORE INTO parse_problems (file_path, offset, reason, prefix, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(p.source_path, p.offset, p.reason, p.prefix, now) for p in problems],
        )
        result.problems = len(problems)
        crash_point("after_problems")
    for status in statuses:
        result.session_ids.add(_set_status(conn, status, now, keys))
    if waits:
        set_waits(conn, waits, [keys.resolve(conn, w.session_id, now) for w in waits])
    return result


def _set_status(conn: sqlite3.Connection, st: SessionStatus, now: str, keys: SessionKeys) -> int:
    """Apply the tracker's verdict (a change of status is also recorded as an event); returns
    the session's id."""
    session_id = keys.resolve(conn, st.session_id, now)
    old = conn.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
    conn.execute(
        "UPDATE sessions SET status = ?, pid = COALESCE(?, pid), "
        "pid_started_at = COALESCE(?, pid_started_at), ended_at = ?, "
        "tmux_target = COALESCE(?, tmux_target), spawned_by = COALESCE(?, spawned_by), "
        "task_file = COALESCE(?, task_file), importance = COALESCE(?, importance), "
        "project_dir = COALESCE(project_dir, ?), updated_at = ? WHERE id = ?",
        (st.status, st.pid, st.pid_started_at, st.ended_at, st.tmux_target, st.spawned_by,
         st.task_file, st.importance, st.project_dir, now, session_id),
    )  # fmt: skip
    if old != st.status:
        details = orjson.dumps({"from": old, "to": st.status, "reason": st.reason,
                                "pid": st.pid}).decode()  # fmt: skip
        conn.execute(
            INSERT_EVENT,
            (session_id, f"status:{st.timestamp}:{st.status}", None, st.timestamp,
             "status_change", None, None, details, None, None, None, None, st.status, None,
             None, None, None, None, None, None, None, None, now, None, None, None, None),
        )  # fmt: skip
    return session_id


def _agent_of(session_key: str) -> str:
    agent, sep, _ = session_key.partition(":")
    return agent if sep and agent in agents.names() else "unknown"


def _upsert_sessions(
    conn: sqlite3.Connection, sessions: list[SessionInfo], now: str, keys: SessionKeys
) -> None:
    rows = []
    for s in sessions:
        parent = keys.resolve(conn, s.parent_session_id, now) if s.parent_session_id else None
        rows.append({
            "session_key": s.session_id, "agent": s.agent,
            "agent_session_id": s.agent_session_id, "project_dir": s.project_dir,
            "transcript_path": s.transcript_path, "git_branch": s.git_branch,
            "model": s.model, "agent_version": s.agent_version, "first_seen": s.first_seen,
            "last_activity": s.last_activity, "parent_session_id": parent,
            "parent_tool_call_id": s.parent_tool_call_id, "title": s.title, "now": now,
            "title_fallback": s.title_fallback,
        })  # fmt: skip
    conn.executemany(_UPSERT_SESSION, rows)
    inherit_parent_facts(conn, [s.session_id for s in sessions])


def _insert_events(
    conn: sqlite3.Connection,
    events: list[Event],
    completions: list[ToolResult],
    now: str,
    keys: SessionKeys,
    *,
    out: BatchResult,
) -> tuple[int, Folds | None]:
    """Insert ``events`` and move their sessions' activity windows; returns how many were new,
    and the batch's results folded into their call rows (``store.completions.Folds``).

    Rows are grouped by which columns they fill, and each group binds only those: the sqlite3
    module looks for an adapter for every ``None`` it binds, which made the NULLs (half of a
    typical row) cost more than the values (bench/bench_store.py: 18 → 10 ms per 1000 rows).
    """
    # Rowids only grow, so the new rows are exactly those above the old maximum: an O(log n)
    # count that works although conflicting usage rows also report a change.
    top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    resolve = keys.resolve
    events = replayed_usage(conn, events, lambda key: resolve(conn, key, now))
    sessions = keys.resolve_all(conn, [event.session_id for event in events], now)
    folds = _folds(conn, events, completions, keys) if completions else None
    for shape, runs in _grouped_rows(events, sessions, now, folds).items():
        for folded, rows in runs:
            if not rows:  # a shape whose first row was folded
                continue
            if not folded:
                conn.executemany(_shaped_sql(shape), rows)
                continue
            changed = conn.executemany(_folded(shape)[1], rows).rowcount
            if folds is not None:  # always, with folded rows
                folds.landed(len(rows), changed)
    conn.execute(_TOUCH_SESSIONS, {"top": top, "now": now})
    inserted = int(conn.execute("SELECT COUNT(*) FROM events WHERE id > ?", (top,)).fetchone()[0])
    if inserted:
        out.first_event_id, out.last_event_id = top + 1, top + inserted
    return inserted, folds


Rows = list[tuple[object, ...]]
# A shape's rows in batch order, in runs: (folded, rows); folded runs bind the merged results.
Runs = list[tuple[bool, Rows]]


def _grouped_rows(
    events: list[Event], sessions: list[int], now: str, folds: Folds | None
) -> dict[tuple[bool, ...], Runs]:
    """The batch's rows by shape (which columns they fill), each shape's rows in batch order
    (so in the order, and with the ids, they had before folding), in runs of folded or not."""
    shapes: dict[tuple[bool, ...], Runs] = {}
    fold, calls = (folds.fold, folds.calls) if folds else (None, frozenset[str]())
    for event, session in zip(events, sessions, strict=True):
        row = event_row(event, session, now)
        shape = tuple(map(operator.is_not, row, _NONES))
        runs = shapes.get(shape)
        if runs is None:
            shapes[shape] = runs = [(False, [])]
        done = fold(event, row) if fold is not None and event.tool_call_id in calls else None
        if done is None:
            params = tuple(compress(row, shape))
        else:
            params = (*compress(row, _folded(shape)[0]), *done)
        if runs[-1][0] != (done is not None):
            runs.append((done is not None, []))
        runs[-1][1].append(params)
    return shapes


def _folds(
    conn: sqlite3.Connection,
    events: list[Event],
    completions: list[ToolResult],
    keys: SessionKeys,
) -> Folds:
    """The batch's results merged per call (those of sessions already resolved), and which call
    rows of the batch may take theirs at insert: a call whose id is no other row's key or call
    id in the batch (one row to fold into, and none that the other index path would find)."""
    merged: Merged = {}
    left = merge_results(completions, keys.known, merged)
    ids = Counter(map(_KEY_OF, events))
    ids.update(map(_CALL_OF, events))
    foldable = {key for key in merged if ids[key[1]] == 2}  # its row's key and call id
    return Folds(conn, merged, left, foldable)


def _folded(shape: tuple[bool, ...]) -> tuple[tuple[bool, ...], str]:
    found = _FOLDED_SQL.get(shape)
    if found is None:
        found = _FOLDED_SQL[shape] = folded_sql(_EVENT_COLUMNS, shape)
    return found


def _shaped_sql(shape: tuple[bool, ...]) -> str:
    sql = _SHAPED_SQL.get(shape)
    if sql is None:
        sql = _SHAPED_SQL[shape] = _insert_sql(list(compress(_EVENT_COLUMNS, shape)))
    return sql


# Each session's activity window is widened to cover the rows this batch added (rowid > top).
# Rows that were already stored changed nothing, so they need not move it either.
_TOUCH_SESSIONS = """
UPDATE sessions SET
    last_activity = CASE WHEN last_activity IS NULL OR last_activity < span.high
                    THEN span.high ELSE last_activity END,
    spawned_at = CASE WHEN spawned_at IS NULL OR spawned_at > span.low
                 THEN span.low ELSE spawned_at END,
    started_at = CASE WHEN started_at IS NULL OR started_at > span.low
                 THEN span.low ELSE started_at END,
    updated_at = :now
FROM (SELECT session_id, MIN(timestamp) AS low, MAX(timestamp) AS high
      FROM events NOT INDEXED WHERE id > :top GROUP BY session_id) AS span
WHERE sessions.id = span.session_id
"""


def _complete(
    conn: sqlite3.Connection,
    completions: list[ToolResult],
    folds: Folds | None,
    now: str,
    keys: SessionKeys,
    *,
    out: BatchResult,
) -> None:
    """Complete what the insert did not fold (``store.completions``), counting applied and
    parked results."""
    merged: Merged = {} if folds is None else folds.merged
    rest = completions if folds is None else folds.left
    merge_results(rest, lambda key: keys.resolve(conn, key, now), merged)
    pending = list(merged.values()) if folds is None else folds.unfolded()
    parked = complete(conn, pending) if pending else 0
    out.results_parked += parked
    out.results_applied += len(merged) - parked
