"""Usage report interface: a stand-in for the dashboard's branch.

Replaced at merge by the issue-13 implementation (the ``usage`` command, pricing and cost).
This stand-in keeps the agreed interface — ``UsageQuery``, ``build_usage`` and
``session_costs`` — and the contract's JSON shape, summing tokens from the store; it knows no
prices, so every ``cost_usd`` is None (unknown, never 0) and ``blocks`` is not offered.
"""

from __future__ import annotations

import pathlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.timespec import parse_since, parse_until
from store.connection import open_database
from store.reads import usage_groups

__all__ = ["GROUPS", "UsageQuery", "build_usage", "session_costs"]

GROUPS = ("daily", "weekly", "monthly", "session", "project", "branch", "model")
_KEY_NAMES = {"daily": "date", "weekly": "week", "monthly": "month", "session": "session_key"}
TOKEN_KEYS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
              "reasoning_tokens", "total_tokens")  # fmt: skip


@dataclass(frozen=True)
class UsageQuery:
    """What a usage report groups by and filters on (the ``usage`` command's options)."""

    group: str = "daily"
    since: str | None = None
    until: str | None = None
    agent: str | None = None
    project: str | None = None
    branch: str | None = None
    breakdown: bool = False
    flat: bool = False
    timezone: str | None = None
    pricing_file: str | None = None


def build_usage(db_path: pathlib.Path, query: UsageQuery) -> dict[str, Any]:
    """``{"group", "rows", "totals", "pricing"}`` for ``query``; ValueError on a bad option."""
    if query.group not in GROUPS:
        raise ValueError(f"unknown group {query.group!r}; valid: {', '.join(GROUPS)}")
    filters = _filters(query)
    conn = open_database(db_path, readonly=True)
    try:
        conn.row_factory = sqlite3.Row
        raw = usage_groups(conn, query.group, filters, by_agent=True)
    finally:
        conn.close()
    rows = [_row(query.group, item) for item in raw]
    totals: dict[str, Any] = {key: sum(row[key] for row in rows) for key in TOKEN_KEYS}
    totals["cost_usd"] = None
    return {"group": query.group, "rows": rows, "totals": totals,
            "pricing": {"source": "none", "version": "stand-in"}}  # fmt: skip


def session_costs(db_path: pathlib.Path, session_ids: list[int]) -> dict[int, float | None]:
    """Cost per session; unknown (None) in this stand-in."""
    return dict.fromkeys(session_ids)


def _filters(query: UsageQuery) -> dict[str, str]:
    now = datetime.now(UTC)
    tz = now.astimezone().tzinfo or UTC
    out: dict[str, str] = {}
    if query.since:
        out["since"] = parse_since(query.since, now, tz)
    if query.until:
        out["until"] = parse_until(query.until, now, tz)
    for name in ("agent", "project", "branch"):
        value = getattr(query, name)
        if value:
            out[name] = value
    return out


def _row(group: str, item: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {_KEY_NAMES.get(group, group): item["key"], "agent": item["agent"]}
    if group == "session":
        row["agent_session_id"] = item["agent_session_id"]
    for key in TOKEN_KEYS[:-1]:
        row[key] = item[key]
    row["total_tokens"] = (item["input_tokens"] + item["output_tokens"]
                           + item["cache_creation_tokens"] + item["cache_read_tokens"]
                           + item["reasoning_extra"])  # fmt: skip
    row["cost_usd"] = None
    return row
