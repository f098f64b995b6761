"""Usage and cost reports over the store: the one entry point the CLI and the dashboard share.

``build_usage`` opens the database read-only, sums usage in SQL (``store.reads.usage``), prices each
sum at its model's rates for its time and prompt-size tier (``pricing``), and folds the sums
into the rows of the asked group. The result is the contract's JSON object: ``group``,
``rows``, ``totals`` and ``pricing`` (the price list and version, and which price each model
got). ``session_costs`` gives the dashboard one cost per session.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Hashable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.reports.blocks import Request, split_blocks
from collector.reports.grouping import (
    GROUPS,
    KEY_FIELDS,
    SessionIndex,
    calendar_key,
    day_starts,
)
from collector.reports.price_file import load_price_file
from collector.reports.pricing import PriceBook, TokenCounts, price_source
from collector.reports.tally import Tally
from config.agents import names as agent_names
from store.connection import Connection, open_database
from store.reads.usage import UsageCell, usage_cells, usage_entries, usage_sessions, usage_span
from store.timestamps import normalize_timestamp

__all__ = ["GROUPS", "UsageQuery", "build_usage", "resolve_timezone", "session_costs"]

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

    def add(self, cell: UsageCell, counts: TokenCounts, agent: str, cost: float | None,
            breakdown: bool) -> None:  # fmt: skip
        self.tally.add(counts, cell.requests, cost, cell.model, agent)
        self.members.add(cell.session_id)
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
    conn: Connection, context: _Context, zone: tzinfo, now: datetime
) -> list[dict[str, Any]]:
    query, index = context.query, context.index
    window: dict[str, Any] = {"since": query.since, "until": query.until,
                              "thresholds": context.pricer.thresholds}  # fmt: skip
    if query.group == "blocks":
        return _block_rows(context, usage_entries(conn, **window), now)
    selected = None
    if query.agent or query.project or query.branch:
        selected = [sid for sid in index.sessions
                    if index.selects(sid, query.agent, query.project, query.branch)]  # fmt: skip
    first_day, starts = day_starts(zone, *usage_span(conn, since=query.since, until=query.until))
    cells = usage_cells(conn, day_starts=starts, session_ids=selected, **window)
    return _cell_rows(context, cells, _Days(first_day, zone))


class _Days:
    """Day indexes of cells → local dates, and the moment that dates each day's prices."""

    def __init__(self, first: date, zone: tzinfo) -> None:
        self.first, self.zone = first, zone
        self._days: dict[int, tuple[date, datetime]] = {}

    def __call__(self, index: int) -> tuple[date, datetime]:
        found = self._days.get(index)
        if found is None:
            day = self.first + timedelta(days=index)
            found = self._days[index] = (day, datetime.combine(day, time(12), tzinfo=self.zone))
        return found


def _check(query: UsageQuery) -> None:
    if query.group not in GROUPS:
        raise ValueError(f"unknown group {query.group!r}: use one of {', '.join(GROUPS)}")
    if query.agent is not None and query.agent not in agent_names():
        known = ", ".join(agent_names())
        raise ValueError(f"unknown agent {query.agent!r}: use one of {known}")
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


def _key_function(context: _Context) -> Callable[[UsageCell, str, date], Hashable]:
    query, index = context.query, context.index
    if query.group in _CALENDAR:
        return lambda cell, agent, day: calendar_key(query.group, day)
    chooser: dict[str, Callable[[UsageCell, str, date], Hashable]] = {
        "session": lambda c, a, d: c.session_id if query.flat else index.root(c.session_id),
        "project": lambda c, a, d: index.project(c.session_id),
        "branch": lambda c, a, d: index.branch(c.session_id),
        "model": lambda c, a, d: (c.model, a),
    }
    return chooser[query.group]


def _cell_rows(context: _Context, cells: Sequence[UsageCell], days: _Days) -> list[dict[str, Any]]:
    query, index, pricer, totals = context.query, context.index, context.pricer, context.totals
    key_of = _key_function(context)
    rows: dict[Hashable, _Row] = {}
    for cell in cells:
        agent, counts = index.agent(cell.session_id), _counts(cell)
        day, noon = days(cell.day)
        cost = pricer.cost(cell.model, cell.tier, noon, counts, agent)
        row = rows.get(key := key_of(cell, agent, day))
        if row is None:
            row = rows[key] = _Row()
        row.add(cell, counts, agent, cost, query.breakdown)
        totals.add(counts, cell.requests, cost, cell.model, agent)
    return _sorted(query.group, [_row_json(context, key, row) for key, row in rows.items()])


def _sorted(group: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    field_name = KEY_FIELDS[group][0]
    if group in _CALENDAR:
        return sorted(rows, key=lambda r: str(r[field_name]))
    if group == "session":
        return sorted(rows, key=lambda r: (r["last_activity"] or "", r["session_id"]))
    return sorted(rows, key=lambda r: (-r["total_tokens"], str(r[field_name])))


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
    context: _Context, entries: Sequence[tuple[str, UsageCell]], now: datetime
) -> list[dict[str, Any]]:
    index, pricer, query, totals = context.index, context.pricer, context.query, context.totals
    requests = []
    for stamp, entry in entries:
        sid = entry.session_id
        if not index.selects(sid, query.agent, query.project, query.branch):
            continue
        moment = _moment(stamp)
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
        first_day, starts = day_starts(UTC, *usage_span(conn))
        days = _Days(first_day, UTC)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            cells = usage_cells(conn, day_starts=starts, thresholds=pricer.thresholds,
                                session_ids=chunk)  # fmt: skip
            for cell in cells:
                agent, counts = index.agent(cell.session_id), _counts(cell)
                cost = pricer.cost(cell.model, cell.tier, days(cell.day)[1], counts, agent)
                tallies[cell.session_id].add(counts, cell.requests, cost, cell.model, agent)
    return {sid: tally.cost_usd for sid, tally in tallies.items()}
