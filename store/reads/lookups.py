"""Lookups the query commands need beyond the seed's API: finding a session by a prefix of its
key or of the agent's session id, and the spread of command durations per category (the
``commands`` query and the dashboard's command stats both read it here).

Every function takes an open connection (the commands open the store read-only) and binds every
value as a parameter.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from store.connection import store_errors

__all__ = ["Spread", "command_spread", "nearest_rank", "sessions_matching"]

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


class Spread(NamedTuple):
    """The median and 95th percentile (nearest rank, ms) of one category's finished commands."""

    p50: int | None
    p95: int | None


@store_errors
def command_spread(
    conn: sqlite3.Connection, session_id: int | None = None
) -> dict[tuple[int, str], Spread]:
    """Per (session id, category), the spread of its finished commands' durations.

    The ``command_stats`` view has counts and the mean; percentiles need the values, which SQLite
    cannot rank, so they are computed here from the durations in ascending order.
    """
    # ``+event_type`` keeps the planner off the (event_type, timestamp) index: the session's
    # own index (or the command-category index) reads far fewer rows.
    sql = (
        "SELECT session_id, command_category, duration_ms FROM events "
        "WHERE +event_type = 'command' AND command_category IS NOT NULL "
        "AND duration_ms IS NOT NULL"
    )
    params: list[Any] = []
    if session_id is not None:
        sql += " AND session_id = ?"
        params.append(session_id)
    durations: dict[tuple[int, str], list[int]] = {}
    for session, category, duration in conn.execute(sql + " ORDER BY duration_ms", params):
        durations.setdefault((int(session), str(category)), []).append(int(duration))
    return {
        key: Spread(nearest_rank(values, 0.50), nearest_rank(values, 0.95))
        for key, values in durations.items()
    }


def nearest_rank(ordered: Sequence[int], share: float) -> int | None:
    """The nearest-rank percentile (``share`` in 0..1) of an ascending list; None when empty."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]
