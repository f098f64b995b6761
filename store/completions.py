"""Tool results completing their call rows, inside the writer's transaction (``store.batch``).

A result completes the call row(s) with ``(session_id, tool_call_id)`` in place: status
pending → success | error ('error' is sticky), the last exit code and agent duration win, else
the duration is the first result's time minus the call's, less the time the call waited for
permission. Results are merged per call first (``merge_results``), so a batch applies each once.

Two ways in, the same rows either way:

- **Folded** (``Folds``): a result whose call row is inserted in the same batch is written into
  that row by the insert itself (most results follow their call within a few lines). Its
  statement carries the completion as its conflict action too, so a call row already stored
  (a re-read) is completed as the ``UPDATE`` would; a fold that lands on no row (the stored row
  with that key is no call) is counted and sent the other way as well (applying a result twice
  is a no-op). Only calls found by their natural key are folded, and only in sessions holding
  no call found by ``idx_events_tool_call`` (its rows share call ids with other rows).
- **Set-based** (``complete``): every other result goes into ``temp.batch_results``; one
  statement completes their calls, one parks those whose call is not stored yet in
  ``pending_results``, applied when the call arrives (``unpark``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import compress

from store.records import Event, ToolResult

__all__ = ["CALL_TYPES", "Folds", "Merged", "complete", "folded_sql", "has_parked",
           "merge_results", "unpark"]  # fmt: skip

CALL_TYPES = frozenset({"file_op", "command", "tool_call"})


def _completing(status: str, exit_code: str, duration: str, timestamp: str) -> str:
    """The SET clause that completes a stored call row (``events``) with one result's values,
    given as SQL expressions: the one rule every way in shares. Status 'error' is sticky (Codex
    may report exec_command_end, exit 1, before the plain output); the agent's own duration wins
    over one computed from timestamps."""
    return f"""
    status = CASE WHEN events.status = 'error' THEN 'error' ELSE {status} END,
    exit_code = COALESCE({exit_code}, events.exit_code),
    duration_ms = COALESCE({duration}, events.duration_ms, MAX(0,
        CAST(round((julianday({timestamp}) - julianday(events.timestamp)) * 86400000) AS INTEGER)
        - COALESCE(events.wait_ms, 0)))"""


# A call whose key is its call id (Claude's) is found by the natural key; the others by the
# partial idx_events_tool_call.
_COMPLETE = f"""
UPDATE events SET{_completing(":status", ":exit_code", ":duration_ms", ":timestamp")}
WHERE id IN (SELECT id FROM events
             WHERE session_id = :session_id AND agent_event_id = :tool_call_id
               AND tool_call_id = :tool_call_id
             UNION ALL
             SELECT id FROM events
             WHERE session_id = :session_id AND tool_call_id = :tool_call_id
               AND tool_call_id != agent_event_id)
  AND +event_type IN ('file_op', 'command', 'tool_call')
"""

# The same completion for a whole batch in one statement: each result of temp.batch_results
# (one per call, see merge_results) finds its call row(s) through the same two index paths;
# materialized, with the results outermost (else the planner scans events or the partial index).
_COMPLETE_BATCH = f"""
WITH m AS MATERIALIZED (
    SELECT e.id AS event_id, r.timestamp, r.status, r.duration_ms, r.exit_code
    FROM temp.batch_results AS r CROSS JOIN events AS e
      ON e.session_id = r.session_id AND e.agent_event_id = r.tool_call_id
     AND e.tool_call_id = r.tool_call_id
    UNION ALL
    SELECT e.id, r.timestamp, r.status, r.duration_ms, r.exit_code
    FROM temp.batch_results AS r CROSS JOIN events AS e
      ON e.session_id = r.session_id AND e.tool_call_id = r.tool_call_id
     AND e.tool_call_id != e.agent_event_id)
UPDATE events SET{_completing("m.status", "m.exit_code", "m.duration_ms", "m.timestamp")}
FROM m
WHERE events.id = m.event_id AND +events.event_type IN ('file_op', 'command', 'tool_call')
"""

_PARK_UNMATCHED = """
INSERT INTO pending_results (session_id, tool_call_id, timestamp, status, duration_ms, exit_code)
SELECT r.session_id, r.tool_call_id, r.timestamp, r.status, r.duration_ms, r.exit_code
FROM temp.batch_results AS r
WHERE NOT EXISTS (
    SELECT 1 FROM events AS e
    WHERE e.session_id = r.session_id AND e.agent_event_id = r.tool_call_id
      AND e.tool_call_id = r.tool_call_id AND e.event_type IN ('file_op', 'command', 'tool_call'))
  AND NOT EXISTS (
    SELECT 1 FROM events AS e
    WHERE e.session_id = r.session_id AND e.tool_call_id = r.tool_call_id
      AND e.tool_call_id != e.agent_event_id
      AND e.event_type IN ('file_op', 'command', 'tool_call'))
ON CONFLICT (session_id, tool_call_id) DO UPDATE SET
    timestamp = excluded.timestamp,
    status = CASE WHEN status = 'error' THEN 'error' ELSE excluded.status END,
    duration_ms = COALESCE(excluded.duration_ms, duration_ms),
    exit_code = COALESCE(excluded.exit_code, exit_code)
"""

# Does a session hold a call found by idx_events_tool_call (not by its natural key)?
_HAS_SHARED_CALL_IDS = (
    "SELECT 1 FROM events WHERE session_id = ? AND tool_call_id IS NOT NULL "
    "AND tool_call_id != agent_event_id LIMIT 1"
)

# A folded row: its shape's columns but status, exit code and duration (``?1`` … ``?{n}``),
# then the merged result's status, exit code, agent duration and time, and the call's wait.
# The values are what _COMPLETE would give the fresh row; the conflict action is what it would
# do to the stored call row with this natural key. Bound last, not read from ``excluded``.
_FOLDED = """
INSERT INTO events ({names}, status, exit_code, duration_ms)
VALUES ({marks}, ?{s}, ?{x}, COALESCE(?{d}, MAX(0,
    CAST(round((julianday(?{t}) - julianday(?{call})) * 86400000) AS INTEGER) - ?{w})))
ON CONFLICT (session_id, agent_event_id) DO UPDATE SET{conflict}
WHERE events.event_type IN ('file_op', 'command', 'tool_call')
  AND events.tool_call_id = events.agent_event_id
"""

Merged = dict[tuple[int, str], dict[str, object]]
# Places in a row (store.batch._EVENT_COLUMNS).
_STATUS, _DURATION, _EXIT, _WAIT = 12, 13, 14, 25
_COMPLETED = frozenset({_STATUS, _DURATION, _EXIT})


def _result_params(done: ToolResult, session_id: int) -> dict[str, object]:
    return {
        "session_id": session_id, "tool_call_id": done.tool_call_id,
        "timestamp": done.timestamp, "status": done.status,
        "duration_ms": done.duration_ms, "exit_code": done.exit_code,
    }  # fmt: skip


def merge_results(
    completions: Sequence[ToolResult], session_of: Callable[[str], int | None], into: Merged
) -> list[ToolResult]:
    """Merge ``completions`` into ``into``, one parameter set per call, equal to applying its
    results in order: 'error' is sticky, the last exit code and agent duration win, the first
    result's time measures the call. Results whose session ``session_of`` cannot name (None)
    are returned, in order, unmerged."""
    left: list[ToolResult] = []
    for done in completions:
        session = session_of(done.session_id)
        if session is None:
            left.append(done)
            continue
        key = (session, done.tool_call_id)
        seen = into.get(key)
        if seen is None:
            into[key] = _result_params(done, session)
            continue
        if seen["status"] != "error":
            seen["status"] = done.status
        if done.exit_code is not None:
            seen["exit_code"] = done.exit_code
        if done.duration_ms is not None:
            seen["duration_ms"] = done.duration_ms
    return left


class Folds:
    """The batch's merged results, and the call rows of the batch that take theirs at insert.

    ``fold`` gives a call row (``store.batch.event_row``) its merged result's parameters, bound
    by ``folded_sql``'s insert; the insert reports through ``landed`` whether every folded row
    found its call, and ``unfolded`` is what still goes the set-based way (``complete``).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        merged: Merged,
        left: list[ToolResult],
        foldable: set[tuple[int, str]],
    ) -> None:
        self.merged = merged  # by (session id, call id)
        self.left = left  # results of sessions not resolved yet, in order (merged later)
        self.folded: set[tuple[int, str]] = set()
        self.missed = False  # a folded row found no call row: send the folds the other way too
        open_ = {s for s in {s for s, _ in foldable} if not _shares_call_ids(conn, s)}
        self._foldable = {key for key in foldable if key[0] in open_}
        self.calls = {call for _, call in self._foldable}  # a quick test before ``fold``

    def __bool__(self) -> bool:
        """Is any row to be folded."""
        return bool(self._foldable)

    def fold(self, event: Event, row: tuple[object, ...]) -> tuple[object, ...] | None:
        """The merged result's parameters for ``row`` (``store.batch.event_row``) to bind after
        its shaped columns (``folded_sql``), or None when this row is not folded."""
        call = event.tool_call_id
        if (
            call is None
            or call != event.agent_event_id
            or event.event_type not in CALL_TYPES
            or row[_STATUS] == "error"
            or row[_EXIT] is not None
            or row[_DURATION] is not None
        ):
            return None
        key = (row[0], call)
        if key not in self._foldable:
            return None
        merged = self.merged[key]
        self.folded.add(key)
        wait = row[_WAIT]
        return (merged["status"], merged["exit_code"], merged["duration_ms"], merged["timestamp"],
                0 if wait is None else wait)  # fmt: skip

    def landed(self, rows: int, changed: int) -> None:
        """A folded statement of ``rows`` rows changed ``changed``: each should insert or
        complete its row; fewer means a stored row with that key is no call."""
        if changed != rows:
            self.missed = True

    def unfolded(self) -> list[dict[str, object]]:
        """The merged results that still go the set-based way."""
        if self.missed:
            return list(self.merged.values())
        folded = self.folded
        return [params for key, params in self.merged.items() if key not in folded]


def folded_sql(columns: Sequence[str], shape: tuple[bool, ...]) -> tuple[tuple[bool, ...], str]:
    """The insert of folded rows of ``shape``: which of a row's values it binds first (the
    shape's but status, exit code and duration), and its SQL (``_FOLDED``)."""
    own = tuple(f and i not in _COMPLETED for i, f in enumerate(shape))
    names = list(compress(columns, own))
    n = len(names)
    sql = _FOLDED.format(
        names=", ".join(names), marks=", ".join(f"?{i}" for i in range(1, n + 1)),
        s=n + 1, x=n + 2, d=n + 3, t=n + 4, w=n + 5, call=names.index("timestamp") + 1,
        conflict=_completing(f"?{n + 1}", f"?{n + 2}", f"?{n + 3}", f"?{n + 4}"),
    )  # fmt: skip
    return own, sql


def _shares_call_ids(conn: sqlite3.Connection, session: int) -> bool:
    return conn.execute(_HAS_SHARED_CALL_IDS, (session,)).fetchone() is not None


def complete(conn: sqlite3.Connection, merged: Sequence[dict[str, object]]) -> int:
    """Complete the calls of ``merged`` set-wise: the results go into a temporary table, one
    statement completes their calls and one parks the results whose call is not stored yet
    (a per-result UPDATE was 15 % of the writer). Returns how many were parked."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS batch_results (session_id INTEGER, tool_call_id TEXT, "
        "timestamp TEXT, status TEXT, duration_ms INTEGER, exit_code INTEGER)"
    )
    conn.execute("DELETE FROM temp.batch_results")
    conn.executemany(
        "INSERT INTO temp.batch_results VALUES (:session_id, :tool_call_id, :timestamp, :status, "
        ":duration_ms, :exit_code)",
        merged,
    )
    conn.execute(_COMPLETE_BATCH)
    before = conn.total_changes
    conn.execute(_PARK_UNMATCHED)
    return conn.total_changes - before


def has_parked(conn: sqlite3.Connection) -> bool:
    """Is any result waiting for its call."""
    return conn.execute("SELECT 1 FROM pending_results LIMIT 1").fetchone() is not None


def unpark(conn: sqlite3.Connection, wanted: set[tuple[int, str]]) -> int:
    """Apply the parked results of the calls ``wanted`` (session id, call id) that are now
    stored; returns how many were applied."""
    applied = 0
    for session_id, call_id in wanted:
        row = conn.execute(
            "SELECT timestamp, status, duration_ms, exit_code FROM pending_results "
            "WHERE session_id = ? AND tool_call_id = ?",
            (session_id, call_id),
        ).fetchone()
        if row is None:
            continue
        params = {
            "session_id": session_id, "tool_call_id": call_id, "timestamp": row[0],
            "status": row[1], "duration_ms": row[2], "exit_code": row[3],
        }  # fmt: skip
        if conn.execute(_COMPLETE, params).rowcount:
            conn.execute(
                "DELETE FROM pending_results WHERE session_id = ? AND tool_call_id = ?",
                (session_id, call_id),
            )
            applied += 1
    return applied
