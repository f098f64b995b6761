"""The 5-hour billing windows of Claude subscriptions, as ccusage defines them.

A block starts at the hour (UTC) of the first request after a quiet spell and lasts five hours;
a request more than five hours after the block's start, or after the previous request, starts
the next one. The block holding "now" (its last request less than five hours ago and its end
still ahead) is active: its burn rate is its tokens (and cost) over the time from its first to
its last request, and its projection carries that rate to the block's end.

Pure: the caller passes the requests in time order and "now".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collector.reports.pricing import TokenCounts
from collector.reports.tally import Tally
from store.timestamps import format_timestamp

__all__ = ["BLOCK", "Block", "Request", "split_blocks"]

BLOCK = timedelta(hours=5)


@dataclass(frozen=True, slots=True)
class Request:
    """One priced request: when, what, by whom, and its cost (None when unpriced)."""

    moment: datetime
    counts: TokenCounts
    cost: float | None
    model: str
    agent: str


@dataclass
class Block:
    """One 5-hour window and the usage in it."""

    start: datetime
    first: datetime
    last: datetime
    tally: Tally = field(default_factory=Tally)
    parts: dict[tuple[str, str], Tally] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return self.start + BLOCK

    def is_active(self, now: datetime) -> bool:
        """Still open: the last request is under five hours old and the end is ahead."""
        return now - self.last < BLOCK and now < self.end

    def as_json(self, now: datetime, *, breakdown: bool = False) -> dict[str, Any]:
        """The contract's row for a block, with burn rate and projection when active."""
        row: dict[str, Any] = {
            "block_start": format_timestamp(self.start),
            "block_end": format_timestamp(self.end),
            "first_activity": format_timestamp(self.first),
            "last_activity": format_timestamp(self.last),
            "is_active": self.is_active(now),
            "agent": next(iter(self.tally.agents)) if len(self.tally.agents) == 1 else None,
            **self.tally.as_json(),
        }
        if row["is_active"]:
            row.update(self._burn(now))
        if breakdown:
            row["breakdown"] = [
                {"model": model, "agent": agent, **part.as_json(models=False)}
                for (model, agent), part in sorted(self.parts.items(),
                                                   key=lambda kv: -kv[1].total_tokens)
            ]  # fmt: skip
        return row

    def _burn(self, now: datetime) -> dict[str, Any]:
        minutes = max((self.last - self.first).total_seconds() / 60, 1.0)
        remaining = max((self.end - now).total_seconds() / 60, 0.0)
        per_minute = self.tally.total_tokens / minutes
        cost = self.tally.cost_usd
        cost_per_minute = None if cost is None else cost / minutes
        return {
            "burn_rate": {
                "tokens_per_minute": round(per_minute, 1),
                "cost_per_hour": None
                if cost_per_minute is None
                else round(cost_per_minute * 60, 4),
            },
            "projection": {
                "remaining_minutes": round(remaining),
                "total_tokens": round(self.tally.total_tokens + per_minute * remaining),
                "cost_usd": None
                if cost is None or cost_per_minute is None
                else round(cost + cost_per_minute * remaining, 4),
            },
        }


def split_blocks(requests: Iterable[Request]) -> list[Block]:
    """Requests (in time order) grouped into 5-hour blocks."""
    blocks: list[Block] = []
    current: Block | None = None
    for request in requests:
        moment = request.moment
        if current is None or moment - current.start > BLOCK or moment - current.last > BLOCK:
            start = moment.replace(minute=0, second=0, microsecond=0)
            current = Block(start=start, first=moment, last=moment)
            blocks.append(current)
        current.last = moment
        current.tally.add(request.counts, 1, request.cost, request.model, request.agent)
        part = current.parts.setdefault((request.model, request.agent), Tally())
        part.add(request.counts, 1, request.cost, request.model, request.agent)
    return blocks
