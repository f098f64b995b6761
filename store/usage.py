"""The reads behind ``agent-viz-monitor usage``: token sums straight from ``usage`` events.

Reports are priced per request, yet a store holds hundreds of thousands of usage rows, so SQLite
sums them into *cells* first: one per session, quarter hour (UTC), model and prompt-size tier.
A quarter hour is fine enough to bucket days in any time zone (every UTC offset is a multiple
of 15 minutes), and the tier index (how many of the given prompt-size thresholds a request
exceeds) keeps tiered prices exact: every request in a cell pays the same rates.

All functions take an open (read-only) connection and return plain tuples and dicts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["UsageCell", "UsageEntry", "usage_cells", "usage_entries", "usage_sessions"]

# The request's whole prompt: uncached input plus cache reads and writes (Anthropic's and
# Google's tier rule: "input tokens including cached tokens").
_PROMPT = (
    "(COALESCE(input_tokens, 0) + COALESCE(cache_read_tokens, 0)"
    " + COALESCE(cache_creation_tokens, 0))"
)
_SUMS = """SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)),
       SUM(COALESCE(cache_creation_tokens, 0)), SUM(COALESCE(cache_creation_1h_tokens, 0)),
       SUM(COALESCE(cache_read_tokens, 0)), SUM(COALESCE(reasoning_tokens, 0)), COUNT(*)"""
# 'YYYY-MM-DDTHH:' and the quarter (0-3) of the hour.
_SLOT = "substr(timestamp, 1, 14) || (CAST(substr(timestamp, 15, 2) AS INTEGER) / 15)"


@dataclass(frozen=True, slots=True)
class UsageCell:
    """Summed usage of one session, quarter hour, model and tier."""

    session_id: int
    slot: str  # 'YYYY-MM-DDTHH:q', q the quarter of the hour, UTC
    model: str
    tier: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_creation_1h_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    requests: int


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One usage event, for the 5-hour blocks (which need each request's time)."""

    timestamp: str
    session_id: int
    model: str
    tier: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_creation_1h_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int


def _tier_sql(thresholds: Sequence[int]) -> str:
    if not thresholds:
        return "0"
    return " + ".join(f"({_PROMPT} > {int(t)})" for t in thresholds)


def _where(
    since: str | None, until: str | None, session_ids: Sequence[int] | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["event_type = 'usage'"]
    params: list[Any] = []
    if since is not None:
        clauses.append("timestamp >= ?")
        params.append(since)
    if until is not None:
        clauses.append("timestamp < ?")
        params.append(until)
    if session_ids is not None:
        clauses.append(f"session_id IN ({', '.join('?' * len(session_ids))})")
        params.extend(int(i) for i in session_ids)
    return " AND ".join(clauses), params


def usage_cells(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    thresholds: Sequence[int] = (),
    session_ids: Sequence[int] | None = None,
) -> list[UsageCell]:
    """Usage summed per session, quarter hour, model and tier, in ``[since, until)``."""
    where, params = _where(since, until, session_ids)
    sql = f"""SELECT session_id, {_SLOT}, COALESCE(model, 'unknown'), {_tier_sql(thresholds)},
       {_SUMS}
FROM events WHERE {where} GROUP BY 1, 2, 3, 4"""
    return [UsageCell(*row) for row in conn.execute(sql, params)]


def usage_entries(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    thresholds: Sequence[int] = (),
) -> list[UsageEntry]:
    """Every usage event in ``[since, until)`` in time order."""
    where, params = _where(since, until, None)
    sql = f"""SELECT timestamp, session_id, COALESCE(model, 'unknown'), {_tier_sql(thresholds)},
       COALESCE(input_tokens, 0), COALESCE(output_tokens, 0), COALESCE(cache_creation_tokens, 0),
       COALESCE(cache_creation_1h_tokens, 0), COALESCE(cache_read_tokens, 0),
       COALESCE(reasoning_tokens, 0)
FROM events WHERE {where} ORDER BY timestamp, id"""
    return [UsageEntry(*row) for row in conn.execute(sql, params)]


def usage_sessions(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every session's attribution facts, by row id."""
    sql = """SELECT id, session_key, agent, agent_session_id, project_dir, git_branch,
       parent_session_id, title, started_at, last_activity, transcript_path
FROM sessions"""
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}
