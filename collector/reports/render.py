"""A usage report for people (a rich table with a totals row) and for spreadsheets (CSV).

The table fits the terminal: narrow ones lose the reasoning and request columns first, and
long keys wrap rather than push the numbers off screen. Costs of models without a price show
as "unknown" (or "$x + ?" when part of a row is priced), and a note under the table names those
models and how to price them.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.table import Table

from collector.reports.grouping import KEY_FIELDS

__all__ = ["report_csv", "report_table"]

_TOKEN_COLUMNS = (
    ("input_tokens", "Input"), ("output_tokens", "Output"),
    ("cache_creation_tokens", "Cache write"), ("cache_read_tokens", "Cache read"),
    ("reasoning_tokens", "Reasoning"), ("total_tokens", "Total"),
)  # fmt: skip
_NARROW = 110  # below this width the reasoning column goes
_CSV_FIXED = ("agent", "model", *(name for name, _ in _TOKEN_COLUMNS), "cost_usd")


def _cost(values: dict[str, Any]) -> str:
    cost = values.get("cost_usd")
    if cost is not None:
        return f"${cost:,.2f}"
    priced = values.get("priced_cost_usd") or 0.0
    return f"${priced:,.2f} + ?" if priced else "unknown"


def _key_text(group: str, row: dict[str, Any], zone: tzinfo) -> list[str]:
    if group == "session":
        ident = str(row.get("agent_session_id") or row.get("session_key") or "")[:8]
        title = str(row.get("title") or "")[:40]
        extra = f" (+{row['subagents']} subagents)" if row.get("subagents") else ""
        project = str(row.get("project") or "").rstrip("/").rsplit("/", 1)[-1]
        return [f"{ident} {title}".strip() + extra, project]
    if group == "blocks":
        start = datetime.fromisoformat(str(row["block_start"]).replace("Z", "+00:00"))
        label = start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        return [label + ("  ACTIVE" if row.get("is_active") else "")]
    return [str(row.get(KEY_FIELDS[group][0]))]


def _key_headers(group: str) -> list[str]:
    if group == "session":
        return ["Session", "Project"]
    if group == "blocks":
        return ["Block start"]
    return [KEY_FIELDS[group][0].capitalize()]


def report_table(report: dict[str, Any], console: Console, zone: tzinfo) -> Table:
    """The report as a rich table (totals in the footer); numbers never wrap or get cut."""
    group, rows, totals = report["group"], report["rows"], report["totals"]
    wide = console.width >= _NARROW
    columns = [c for c in _TOKEN_COLUMNS if wide or c[0] != "reasoning_tokens"]
    table = Table(title=f"Usage by {group}", show_footer=True, header_style="bold")
    keys = _key_headers(group) if wide else _key_headers(group)[:1]
    for index, header in enumerate(keys):
        table.add_column(header, footer="Total" if index == 0 else "", overflow="fold")
    agents = [_agent(row) for row in rows]
    table.add_column("Agent", footer="", no_wrap=True, min_width=_widest(agents, "Agent"))
    for name, header in columns:
        texts = [f"{row[name]:,}" for row in rows]
        footer = f"{totals[name]:,}"
        table.add_column(header, justify="right", footer=footer, no_wrap=True,
                         min_width=_widest([*texts, footer], ""))  # fmt: skip
    costs = [_cost(row) for row in rows]
    table.add_column("Cost (USD)", justify="right", footer=_cost(totals), no_wrap=True,
                     min_width=_widest([*costs, _cost(totals)], ""))  # fmt: skip
    for row, agent in zip(rows, agents, strict=True):
        cells = [*_key_text(group, row, zone)[: len(keys)], agent]
        table.add_row(*cells, *(f"{row[n]:,}" for n, _ in columns), _cost(row))
        for part in row.get("breakdown") or []:
            label = ["  " + str(part["model"]), *([""] * (len(keys) - 1))]
            table.add_row(*label, str(part["agent"]), *(f"{part[n]:,}" for n, _ in columns),
                          _cost(part), style="dim")  # fmt: skip
    return table


def _agent(row: dict[str, Any]) -> str:
    return str(row.get("agent") or ", ".join(row.get("agents") or []))


def _widest(texts: list[str], header: str) -> int:
    return max([len(header), *(len(t) for t in texts)])


def report_notes(report: dict[str, Any]) -> list[str]:
    """Lines under the table: unpriced models, the price source, live block figures."""
    notes = []
    unpriced = report["totals"].get("unpriced_models") or {}
    if unpriced:
        names = ", ".join(f"{m} ({n} requests)" for m, n in unpriced.items())
        only = set(report["totals"].get("models") or []) <= set(unpriced)
        why = ("only models without a price" if only
               else "part of the usage is from models without a price")  # fmt: skip
        notes.append(f"Cost unknown: {why}: {names}. Price them with --pricing FILE.")
    for row in report["rows"]:
        if row.get("burn_rate"):
            rate, proj = row["burn_rate"], row["projection"]
            per_hour = rate["cost_per_hour"]
            cost = proj["cost_usd"]
            notes.append(
                f"Active block: {rate['tokens_per_minute']:,.0f} tokens/min"
                + (f", ${per_hour:,.2f}/h" if per_hour is not None else "")
                + f"; projected {proj['total_tokens']:,} tokens"
                + (f", ${cost:,.2f}" if cost is not None else "")
                + f" by the block's end ({proj['remaining_minutes']} min left)."
            )
    pricing = report["pricing"]
    source = f"Prices: {pricing['source']} {pricing['version']}"
    if pricing.get("overrides"):
        source += f", overridden by {pricing['overrides']}"
    notes.append(source + f"; dates in {report.get('timezone')}.")
    return notes


def report_csv(report: dict[str, Any]) -> str:
    """One line per row (and per model of a row with ``--breakdown``), with a header."""
    group = report["group"]
    keys = list(KEY_FIELDS[group]) + (["project", "branch"] if group == "session" else [])
    header = list(dict.fromkeys([*keys, *_CSV_FIXED]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in report["rows"]:
        parts = row.get("breakdown")
        if not parts:
            writer.writerow([_csv_value(row, name) for name in header])
            continue
        for part in parts:
            writer.writerow([_csv_value({**row, **part}, name) for name in header])
    return out.getvalue()


def _csv_value(row: dict[str, Any], name: str) -> Any:
    if name == "model" and "model" not in row:
        return ";".join(row.get("models") or [])
    value = row.get(name)
    return "" if value is None else value
