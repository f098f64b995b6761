"""Usage and cost reports over the store: the one entry point the CLI and the dashboard share.

``build_usage`` opens the database read-only, sums usage in SQL (``store.usage``), prices each
sum at its model's rates for its time and prompt-size tier (``pricing``), and folds the sums
into the rows of the asked group. The result is the contract's JSON object: ``group``,
``rows``, ``totals`` and ``pricing`` (the price list and version, and which price each model
got). ``session_costs`` gives the dashboard one cost per session.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
from collections.abc import Callable, Hashable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.reports.blocks import Request, split_blocks
from collector.reports.grouping import GROUPS, KEY_FIELDS, SessionIndex, calendar_key, zone_offsets
from collector.reports.price_file import load_price_file
from collector.reports.pricing import PriceBook, TokenCounts, price_source
from collector.reports.tally import Tally
from store.connection import open_database
from store.timestamps import normalize_timestamp
from store.usage import (
    UsageCell,
    usage_by_day,
    usage_by_session,
    usage_entries,
    usage_sessions,
    usage_span,
)

__all__ = ["AGENTS", "GROUPS", "UsageQuery", "build_usage", "resolve_timezone", "session_costs"]

AGENTS = ("claude-code", "codex", "copilot", "gemini")
_CALENDAR = ("daily", "weekly", "monthly")
_CHUNK = 500


@dataclass(frozen=True)
class UsageQuery:
    """What to report; ``since``/``until`` are store timestamps (``collector.timespec``)."""

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


def resolve_timezone(name: str | None) -> tzinfo:
    """An IANA zone by name; without one the machine's (``TZ``, then /etc/localtime)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
            ) from None
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return datetime.now().astimezone().tzinfo or UTC


class Pricer:
    """Cost of a cell or request, with rates cached per model, tier and price date."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self.thresholds = book.thresholds()
        self._rates: dict[tuple[str, int, Any], Any] = {}

    def cost(self, model: str, tier: int, moment: datetime, counts: TokenCounts,
             agent: str) -> float | None:  # fmt: skip
        price = self.book.lookup(model)
        if price is None:
            return None
        dated = price.source_model is not None and isinstance(price.source_model.prices, list)
        key = (model, tier, moment if dated else None)
        rates = self._rates.get(key)
        if rates is None:
            prompt = self.thresholds[tier - 1] + 1 if tier > 0 else 0
            rates = self._rates[key] = price.rates(moment, prompt)
        return counts.cost(rates, agent)

    def sources(self, models: set[str]) -> dict[str, str | None]:
        """Which price each model got (None: unknown)."""
        return {m: (p.name if (p := self.book.lookup(m)) else None) for m in sorted(models)}


@dataclass(frozen=True)
class _Context:
    index: SessionIndex
    pricer: Pricer
    query: UsageQuery
    totals: Tally


@dataclass
class _Row:
    tally: Tally = field(default_factory=Tally)
    parts: dict[tuple[str, str], Tally] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)

    def add(self, cell: UsageCell, agent: str, cost: float | None,
            breakdown: bool) -> None:  # fmt: skip
        counts = _counts(cell)
        self.tally.add(counts, cell.requests, cost, cell.model, agent)
        if breakdown:
            part = self.parts.setdefault((cell.model, agent), Tally())
            part.add(counts, cell.requests, cost, cell.model, agent)


def build_usage(
    db_path: pathlib.Path, query: UsageQuery, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report ``query`` asks for, as the contract's JSON object."""
    _check(query)
    zone = resolve_timezone(query.timezone)
    overrides = load_price_file(query.pricing_file) if query.pricing_file else None
    pricer = Pricer(PriceBook(overrides))
    with closing(open_database(db_path, readonly=True)) as conn:
        index = SessionIndex(usage_sessions(conn))
        context = _Context(index, pricer, query, Tally())
        rows = _read_rows(conn, context, zone, now or datetime.now(UTC))
    pricing: dict[str, Any] = {**price_source(), "overrides": query.pricing_file,
                               "models": pricer.sources(context.totals.models)}  # fmt: skip
    return {"group": query.group, "timezone": str(zone), "rows": rows,
            "totals": context.totals.as_json(), "pricing": pricing}  # fmt: skip


def _read_rows(
    conn: sqlite3.Connection, context: _Context, zone: tzinfo, now: datetime
) -> list[dict[str, Any]]:
    query, index = context.query, context.index
    window: dict[str, Any] = {"since": query.since, "until": query.until,
                              "thresholds": context.pricer.thresholds}  # fmt: skip
    selected = None
    if query.agent or query.project or query.branch:
        selected = [sid for sid in index.sessions
                    if index.selects(sid, query.agent, query.project, query.branch)]  # fmt: skip
    if query.group == "blocks":
        return _block_rows(context, usage_entries(conn, **window), now)
    if query.group in _CALENDAR:
        offsets = zone_offsets(zone, *usage_span(conn, since=query.since, until=query.until))
        cells = usage_by_day(conn, offsets=offsets, session_ids=selected, **window)
        return _calendar_rows(context, cells)
    return _session_rows(context, usage_by_session(conn, session_ids=selected, **window))


def _check(query: UsageQuery) -> None:
    if query.group not in GROUPS:
        raise ValueError(f"unknown group {query.group!r}: use one of {', '.join(GROUPS)}")
    if query.agent is not None and query.agent not in AGENTS:
        raise ValueError(f"unknown agent {query.agent!r}: use one of {', '.join(AGENTS)}")
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None and normalize_timestamp(value) != value:
            raise ValueError(f"{name}: not a store timestamp: {value!r}")


def _counts(cell: Any) -> TokenCounts:
    return TokenCounts(cell.input_tokens, cell.output_tokens, cell.cache_creation_tokens,
                       cell.cache_creation_1h_tokens, cell.cache_read_tokens,
                       cell.reasoning_tokens)  # fmt: skip


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _calendar_rows(context: _Context, cells: Sequence[UsageCell]) -> list[dict[str, Any]]:
    query, pricer, totals = context.query, context.pricer, context.totals
    rows: dict[Hashable, _Row] = {}
    for cell in cells:
        agent = cell.agent or "unknown"
        cost = pricer.cost(cell.model, cell.tier, _moment(cell.first), _counts(cell), agent)
        key = calendar_key(query.group, date.fromisoformat(cell.key))
        rows.setdefault(key, _Row()).add(cell, agent, cost, query.breakdown)
        totals.add(_counts(cell), cell.requests, cost, cell.model, agent)
    out = [_row_json(context, key, row) for key, row in rows.items()]
    return sorted(out, key=lambda r: str(r[KEY_FIELDS[query.group][0]]))


def _session_key(context: _Context) -> Callable[[UsageCell, str], Hashable]:
    query, index = context.query, context.index
    chooser: dict[str, Callable[[UsageCell, str], Hashable]] = {
        "session": lambda c, a: c.key if query.flat else index.root(c.key),
        "project": lambda c, a: index.project(c.key),
        "branch": lambda c, a: index.branch(c.key),
        "model": lambda c, a: (c.model, a),
    }
    return chooser[query.group]


def _session_rows(context: _Context, cells: Sequence[UsageCell]) -> list[dict[str, Any]]:
    query, index, pricer, totals = context.query, context.index, context.pricer, context.totals
    key_of = _session_key(context)
    rows: dict[Hashable, _Row] = {}
    for cell in cells:
        agent = index.agent(cell.key)
        cost = pricer.cost(cell.model, cell.tier, _moment(cell.first), _counts(cell), agent)
        row = rows.setdefault(key_of(cell, agent), _Row())
        row.add(cell, agent, cost, query.breakdown)
        row.members.add(cell.key)
        totals.add(_counts(cell), cell.requests, cost, cell.model, agent)
    out = [_row_json(context, key, row) for key, row in rows.items()]
    if query.group == "session":
        return sorted(out, key=lambda r: (r["last_activity"] or "", r["session_id"]))
    field_name = KEY_FIELDS[query.group][0]
    return sorted(out, key=lambda r: (-r["total_tokens"], str(r[field_name])))


def _row_json(context: _Context, key: Hashable, row: _Row) -> dict[str, Any]:
    group, index = context.query.group, context.index
    agents = sorted(row.tally.agents)
    head: dict[str, Any]
    if group == "session":
        assert isinstance(key, int)
        head = index.session_row(key, subagents=len(row.members - {key}))
    elif group == "model":
        assert isinstance(key, tuple)
        head = {"model": key[0], "agent": key[1]}
    else:
        head = {KEY_FIELDS[group][0]: key, "agent": agents[0] if len(agents) == 1 else None}
        if group in ("project", "branch"):
            head["sessions"] = len({index.root(sid) for sid in row.members})
    out = {**head, "agents": agents, **row.tally.as_json()}
    if context.query.breakdown:
        parts = sorted(row.parts.items(), key=lambda kv: -kv[1].total_tokens)
        out["breakdown"] = [
            {"model": model, "agent": agent, **part.as_json(models=False)}
            for (model, agent), part in parts
        ]
    return out


def _block_rows(
    context: _Context, entries: Sequence[UsageCell], now: datetime
) -> list[dict[str, Any]]:
    index, pricer, query, totals = context.index, context.pricer, context.query, context.totals
    requests = []
    for entry in entries:
        sid = entry.key
        if not index.selects(sid, query.agent, query.project, query.branch):
            continue
        moment = _moment(entry.first)
        agent, counts = index.agent(sid), _counts(entry)
        cost = pricer.cost(entry.model, entry.tier, moment, counts, agent)
        requests.append(Request(moment, counts, cost, entry.model, agent))
        totals.add(counts, 1, cost, entry.model, agent)
    breakdown = query.breakdown
    return [block.as_json(now, breakdown=breakdown) for block in split_blocks(requests)]


def session_costs(db_path: pathlib.Path, session_ids: Sequence[int]) -> dict[int, float | None]:
    """Each session's own cost in USD (its subagents are sessions of their own); None when
    part of its usage has no price, 0.0 when it has no usage."""
    pricer = Pricer(PriceBook())
    ids = [int(i) for i in dict.fromkeys(session_ids)]
    tallies = {sid: Tally() for sid in ids}
    with closing(open_database(db_path, readonly=True)) as conn:
        index = SessionIndex(usage_sessions(conn))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for cell in usage_by_session(conn, thresholds=pricer.thresholds, session_ids=chunk):
                agent, counts = index.agent(cell.key), _counts(cell)
                cost = pricer.cost(cell.model, cell.tier, _moment(cell.first), counts, agent)
                tallies[cell.key].add(counts, cell.requests, cost, cell.model, agent)
    return {sid: tally.cost_usd for sid, tally in tallies.items()}
