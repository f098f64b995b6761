"""Permission waits: the time a tool call's prompt was open, kept out of its ``duration_ms``.

The tracker sees a session wait for the user (Claude Code's record says ``waiting``, then
``busy``) and sends a ``ToolWait``; it belongs to the session's newest tool call begun by the
wait's start, not yet given one and still running then (a wait between turns, for input, has
no call and changes nothing). A call already completed (its result committed first)
gives the wait back from its duration; a pending one has it subtracted when its result arrives
(``store.completions._COMPLETE``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from store.records import ToolWait

__all__ = ["set_waits"]

_SET_WAIT = """
UPDATE events SET
    wait_ms = :wait_ms,
    duration_ms = CASE WHEN duration_ms IS NULL THEN NULL
                       ELSE MAX(0, duration_ms - :wait_ms) END
WHERE id = (SELECT id FROM events
            WHERE session_id = :session_id AND event_type IN ('file_op', 'command', 'tool_call')
              AND wait_ms IS NULL AND timestamp <= :since
              AND (status = 'pending'
                   OR julianday(timestamp) + duration_ms / 86400000.0 >= julianday(:since))
            ORDER BY timestamp DESC, id DESC LIMIT 1)
"""


def set_waits(conn: sqlite3.Connection, waits: Sequence[ToolWait], ids: Sequence[int]) -> None:
    """Apply ``waits`` in order; ``ids`` are their sessions' row ids."""
    for wait, session_id in zip(waits, ids, strict=True):
        conn.execute(_SET_WAIT, {"session_id": session_id, "since": wait.since,
                                 "wait_ms": wait.wait_ms})  # fmt: skip
