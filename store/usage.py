"""The reads behind ``agent-viz-monitor usage``: token sums straight from ``usage`` events.

Reports are priced per request, yet a store holds hundreds of thousands of usage rows, so
SQLite sums them first into *cells* that share one price: per local day (calendar reports) or
per session (the others), and per model and prompt-size tier. The tier is how many of the given
prompt-size thresholds a request's prompt exceeds, so tiered prices stay exact; a cell keeps
its first request's time, which dates its prices. Every read walks only ``idx_events_usage``, a
covering index of usage rows in time order (migration 7).

All functions take an open (read-only) connection and return plain tuples and dicts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "UsageCell",
    "usage_by_day",
    "usage_by_session",
    "usage_entries",
    "usage_sessions",
    "usage_span",
]

_FROM = "FROM events INDEXED BY idx_events_usage"
# The request's whole prompt: uncached input plus cache reads and writes (Anthropic's and
# Google's tier rule: "input tokens including cached tokens").
_PROMPT = (
    "(ifnull(input_tokens, 0) + ifnull(cache_read_tokens, 0) + ifnull(cache_creation_tokens, 0))"
)
_SUMS = """ifnull(SUM(input_tokens), 0), ifnull(SUM(output_tokens), 0),
       ifnull(SUM(cache_creation_tokens), 0), ifnull(SUM(cache_creation_1h_tokens), 0),
       ifnull(SUM(cache_read_tokens), 0), ifnull(SUM(reasoning_tokens), 0), COUNT(*)"""


@dataclass(frozen=True, slots=True)
class UsageCell:
    """Summed usage sharing one price: ``key`` is the local day (``usage_by_day``, which also
    gives the agent) or the session id; ``first`` its first request's time."""

    key: Any
    agent: str | None
    model: str
    tier: int
    first: str
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_creation_1h_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    requests: int


def _tier_sql(thresholds: Sequence[int]) -> str:
    """How many thresholds the prompt exceeds, as a binary search: about log2(n) evaluations
    of the prompt per row instead of n."""
    if not thresholds:
        return "0"
    middle = len(thresholds) // 2
    low, high = thresholds[:middle], thresholds[middle + 1 :]
    above = f"{middle + 1} + {_tier_sql(high)}" if high else str(middle + 1)
    below = _tier_sql(low)
    return f"(CASE WHEN {_PROMPT} > {int(thresholds[middle])} THEN {above} ELSE {below} END)"


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
        clauses.append("session_id IN (SELECT value FROM json_each(?))")
        params.append(orjson.dumps([int(i) for i in session_ids]).decode())
    return " AND ".join(clauses), params


def _local_day(offsets: Sequence[tuple[str | None, int]]) -> tuple[str, list[Any]]:
    """``date(timestamp, '<offset> minutes')`` with the zone's offset at each moment:
    ``offsets`` is ``(until, minutes)`` in time order, the last one's ``until`` None."""
    if len(offsets) == 1:
        return "date(timestamp, ?)", [f"{offsets[0][1]:+d} minutes"]
    whens, params = [], []
    for until, minutes in offsets[:-1]:
        whens.append("WHEN timestamp < ? THEN ?")
        params += [until, f"{minutes:+d} minutes"]
    params.append(f"{offsets[-1][1]:+d} minutes")
    return f"date(timestamp, CASE {' '.join(whens)} ELSE ? END)", params


def usage_by_day(
    conn: sqlite3.Connection,
    *,
    offsets: Sequence[tuple[str | None, int]],
    thresholds: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
    session_ids: Sequence[int] | None = None,
) -> list[UsageCell]:
    """Usage summed per local day (``offsets``: see ``_local_day``), agent, model and tier."""
    day, day_params = _local_day(offsets)
    where, params = _where(since, until, session_ids)
    sql = f"""SELECT {day}, ifnull((SELECT agent FROM sessions WHERE id = session_id), 'unknown'),
       ifnull(model, 'unknown'), {_tier_sql(thresholds)}, MIN(timestamp), {_SUMS}
{_FROM} WHERE {where} GROUP BY 1, 2, 3, 4"""
    return [UsageCell(*row) for row in conn.execute(sql, [*day_params, *params])]


def usage_by_session(
    conn: sqlite3.Connection,
    *,
    thresholds: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
    session_ids: Sequence[int] | None = None,
) -> list[UsageCell]:
    """Usage summed per session, model and tier."""
    where, params = _where(since, until, session_ids)
    sql = f"""SELECT session_id, NULL, ifnull(model, 'unknown'), {_tier_sql(thresholds)},
       MIN(timestamp), {_SUMS}
{_FROM} WHERE {where} GROUP BY 1, 2, 3"""
    return [UsageCell(*row) for row in conn.execute(sql, params)]


def usage_entries(
    conn: sqlite3.Connection,
    *,
    thresholds: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
) -> list[UsageCell]:
    """Every usage event in ``[since, until)`` in time order, one cell each (key: session)."""
    where, params = _where(since, until, None)
    sql = f"""SELECT session_id, NULL, ifnull(model, 'unknown'), {_tier_sql(thresholds)},
       timestamp, ifnull(input_tokens, 0), ifnull(output_tokens, 0),
       ifnull(cache_creation_tokens, 0), ifnull(cache_creation_1h_tokens, 0),
       ifnull(cache_read_tokens, 0), ifnull(reasoning_tokens, 0), 1
{_FROM} WHERE {where} ORDER BY timestamp"""
    return [UsageCell(*row) for row in conn.execute(sql, params)]


def usage_span(
    conn: sqlite3.Connection, *, since: str | None = None, until: str | None = None
) -> tuple[str | None, str | None]:
    """The first and last usage timestamps in ``[since, until)`` (two index look-ups)."""
    where, params = _where(since, until, None)
    row = conn.execute(f"SELECT MIN(timestamp), MAX(timestamp) {_FROM} WHERE {where}", params)
    first, last = row.fetchone()
    return first, last


def usage_sessions(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every session's attribution facts, by row id."""
    sql = """SELECT id, session_key, agent, agent_session_id, project_dir, git_branch,
       parent_session_id, title, started_at, last_activity, transcript_path
FROM sessions"""
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}
