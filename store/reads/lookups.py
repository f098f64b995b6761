"""Lookups the query commands need beyond the seed's API: finding a session by a prefix of its
key or of the agent's session id, and command durations per category.

Every function takes an open connection (the commands open the store read-only) and binds every
value as a parameter.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["command_durations", "sessions_matching"]

Row = dict[str, Any]


def sessions_matching(conn: sqlite3.Connection, ref: str, cap: int = 20) -> list[Row]:
    """Sessions whose id is ``ref``, or whose key, key without its agent prefix, or agent
    session id starts with ``ref`` (as ``git`` takes a prefix of a hash).

    An exact key or agent session id wins over prefixes, so a full id is never ambiguous.
    """
    if ref.isdigit():
        found = conn.execute("SELECT * FROM sessions WHERE id = ?", (int(ref),)).fetchall()
        if found:
            return [dict(row) for row in found]
    exact = conn.execute(
        "SELECT * FROM sessions WHERE session_key = ? OR agent_session_id = ? ORDER BY id",
        (ref, ref),
    ).fetchall()
    if len({row["id"] for row in exact}) == 1:
        return [dict(exact[0])]
    size = len(ref)
    rows = conn.execute(
        "SELECT * FROM sessions WHERE substr(session_key, 1, ?1) = ?2 "
        "OR substr(session_key, instr(session_key, ':') + 1, ?1) = ?2 "
        "OR substr(agent_session_id, 1, ?1) = ?2 ORDER BY id LIMIT ?3",
        (size, ref, cap),
    ).fetchall()
    return [dict(row) for row in rows]


def command_durations(
    conn: sqlite3.Connection, session_id: int | None = None
) -> dict[tuple[int, str], list[int]]:
    """Completed command durations (ms, ascending) per (session id, category)."""
    sql = (
        "SELECT session_id, command_category, duration_ms FROM events "
        "WHERE event_type = 'command' AND command_category IS NOT NULL "
        "AND duration_ms IS NOT NULL"
    )
    params: list[Any] = []
    if session_id is not None:
        sql += " AND session_id = ?"
        params.append(session_id)
    out: dict[tuple[int, str], list[int]] = {}
    for session, category, duration in conn.execute(sql + " ORDER BY duration_ms", params):
        out.setdefault((int(session), str(category)), []).append(int(duration))
    return out
