"""Running sums of tokens and cost, and their JSON shape (../shared/CONTRACT.md, "Usage
reports"): the five token kinds, ``total_tokens`` and ``cost_usd`` — null as soon as any usage
in the sum is from a model without a price, so an unknown is never shown as $0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.reports.pricing import TokenCounts
from config.agents import reasoning_beside_output

__all__ = ["Tally"]

_SUMMED = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
           "reasoning_tokens", "total_tokens", "requests")  # fmt: skip


@dataclass(slots=True)
class Tally:
    """Tokens, cost, requests, agents and models of one report row (or the totals)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    known_cost: float = 0.0
    requests: int = 0
    unpriced: dict[str, int] = field(default_factory=dict)  # model → requests without a price
    agents: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)

    def add(
        self, counts: TokenCounts, requests: int, cost: float | None, model: str, agent: str
    ) -> None:
        """Count one cell (or request) of ``model`` used by ``agent``; ``cost`` None: unpriced."""
        self.input_tokens += counts.input_tokens
        self.output_tokens += counts.output_tokens
        self.cache_creation_tokens += counts.cache_creation_tokens
        self.cache_read_tokens += counts.cache_read_tokens
        self.reasoning_tokens += counts.reasoning_tokens
        self.total_tokens += total_tokens(counts, agent)
        self.requests += requests
        if cost is None:
            self.unpriced[model] = self.unpriced.get(model, 0) + requests
        else:
            self.known_cost += cost
        self.agents.add(agent)
        self.models.add(model)

    def merge(self, other: Tally) -> None:
        """Add another tally into this one."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.known_cost += other.known_cost
        for model, count in other.unpriced.items():
            self.unpriced[model] = self.unpriced.get(model, 0) + count
        self.agents |= other.agents
        self.models |= other.models

    @property
    def cost_usd(self) -> float | None:
        """The cost, or None when part of the usage has no price."""
        return None if self.unpriced else round(self.known_cost, 8)

    def as_json(self, *, models: bool = True) -> dict[str, Any]:
        """The contract's token and cost fields, plus what is unpriced (and the models)."""
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "requests": self.requests,
        }
        if models:
            out["models"] = sorted(self.models)
        if self.unpriced:
            out["priced_cost_usd"] = round(self.known_cost, 8)
            out["unpriced_models"] = dict(sorted(self.unpriced.items()))
        return out


def total_tokens(counts: TokenCounts, agent: str) -> int:
    """All tokens of a request; reasoning counts only where it is not inside output (Gemini),
    as in the ``usage_daily`` view."""
    total = (counts.input_tokens + counts.output_tokens + counts.cache_creation_tokens
             + counts.cache_read_tokens)  # fmt: skip
    if reasoning_beside_output(agent):
        total += counts.reasoning_tokens
    return total
