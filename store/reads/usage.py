"""The reads behind ``agent-viz-monitor usage``: token sums straight from ``usage`` events.

Reports are priced per request, yet a store holds hundreds of thousands of usage rows, so
SQLite sums them first into *cells* that share one price: per local day, session, model and
prompt-size tier. The tier is how many of the given prompt-size thresholds a request's prompt
exceeds (a binary search in SQL), so tiered prices stay exact. Every read walks only
``idx_events_usage``, a covering index of usage rows in time order (migration 6); sorting for
GROUP BY is most of the cost, so each day is summed by its own query over its slice of the
index, and cells carry nothing but their keys and sums.

All functions take an open (read-only) connection and return plain tuples and dicts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from store.conditions import conditions
from store.timestamps import normalize_timestamp

__all__ = [
    "UsageCell",
    "usage_cells",
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
    """Summed usage of one day (an index into the caller's day starts), session, model and
    tier: requests that share one price."""

    day: int
    session_id: int
    model: str
    tier: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_creation_1h_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    requests: int


def _tier_sql(thresholds: Sequence[int]) -> str:
    """How many thresholds the prompt exceeds."""
    return _search(_PROMPT, ">", [str(int(t)) for t in thresholds], 0)


def _search(value: str, above: str, bounds: Sequence[str], base: int) -> str:
    """SQL for how many of the sorted ``bounds`` ``value`` passes (``above``: ``>`` or
    ``>=``), plus ``base``: a binary search, so about log2(n) evaluations of ``value``."""
    if not bounds:
        return str(base)
    middle = len(bounds) // 2
    high = _search(value, above, bounds[middle + 1 :], base + middle + 1)
    low = _search(value, above, bounds[:middle], base)
    return f"(CASE WHEN {value} {above} {bounds[middle]} THEN {high} ELSE {low} END)"


def _where(
    since: str | None, until: str | None, session_ids: Sequence[int] | None
) -> tuple[str, list[Any]]:
    ids = None if session_ids is None else orjson.dumps([int(i) for i in session_ids]).decode()
    clauses, params = conditions(
        ("timestamp >= ?", since),
        ("timestamp < ?", until),
        ("session_id IN (SELECT value FROM json_each(?))", ids),
    )
    clauses.insert(0, "event_type = 'usage'")
    return " AND ".join(clauses), params


def usage_cells(
    conn: sqlite3.Connection,
    *,
    day_starts: Sequence[str] = (),
    thresholds: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
    session_ids: Sequence[int] | None = None,
) -> list[UsageCell]:
    """Usage summed per day, session, model and tier: one query per day between the sorted
    ``day_starts`` (the report zone's midnights, as store timestamps), each reading its slice
    of the index and sorting only that (sorting is what GROUP BY costs)."""
    for start in day_starts:
        if normalize_timestamp(start) != start:
            raise ValueError(f"not a store timestamp: {start!r}")
    select = f"""SELECT session_id, ifnull(model, 'unknown'), {_tier_sql(thresholds)}, {_SUMS}
{_FROM} WHERE """
    cells: list[UsageCell] = []
    bounds: list[str | None] = [None, *day_starts, None]
    for day in range(len(bounds) - 1):
        low, high = _narrower(bounds[day], since, max), _narrower(bounds[day + 1], until, min)
        if low is not None and high is not None and low >= high:
            continue
        where, params = _where(low, high, session_ids)
        sql = select + where + " GROUP BY 1, 2, 3"
        cells += [UsageCell(day, *row) for row in conn.execute(sql, params)]
    return cells


def _narrower(bound: str | None, limit: str | None, pick: Any) -> str | None:
    if bound is None or limit is None:
        return bound if limit is None else limit
    return str(pick(bound, limit))


def usage_entries(
    conn: sqlite3.Connection,
    *,
    thresholds: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
) -> list[tuple[str, UsageCell]]:
    """Every usage event in ``[since, until)`` in time order, with its time."""
    where, params = _where(since, until, None)
    sql = f"""SELECT timestamp, session_id, ifnull(model, 'unknown'), {_tier_sql(thresholds)},
       ifnull(input_tokens, 0), ifnull(output_tokens, 0), ifnull(cache_creation_tokens, 0),
       ifnull(cache_creation_1h_tokens, 0), ifnull(cache_read_tokens, 0),
       ifnull(reasoning_tokens, 0), 1
{_FROM} WHERE {where} ORDER BY timestamp"""
    return [(row[0], UsageCell(0, *row[1:])) for row in conn.execute(sql, params)]


def usage_span(
    conn: sqlite3.Connection, *, since: str | None = None, until: str | None = None
) -> tuple[str | None, str | None]:
    """The first and last usage timestamps in ``[since, until)`` (two index look-ups: SQLite
    turns only a lone MIN or MAX into one)."""
    where, params = _where(since, until, None)
    ends = []
    for order in ("ASC", "DESC"):
        sql = f"SELECT timestamp {_FROM} WHERE {where} ORDER BY timestamp {order} LIMIT 1"
        row = conn.execute(sql, params).fetchone()
        ends.append(row[0] if row else None)
    return ends[0], ends[1]


def usage_sessions(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every session's attribution facts, by row id."""
    sql = """SELECT id, session_key, agent, agent_session_id, project_dir, git_branch,
       parent_session_id, title, started_at, last_activity, transcript_path
FROM sessions"""
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}
