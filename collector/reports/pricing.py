"""What a request costs, from `genai-prices` (the Pydantic team's maintained price list) or the
user's ``--pricing`` file.

Why genai-prices: it ships its data inside the wheel (works offline, versioned with the
package), and models what agents' bills depend on — Anthropic's and Google's prompt-size tiers
(a request over 200k prompt tokens pays the higher rate on all its tokens), cache reads,
5-minute and 1-hour cache writes, dated price changes, and Bedrock's regional endpoints (+10 %).
LiteLLM's list (what ccusage prices with) needs the whole ``litellm`` package or a download.

The rule for a request: uncached input at the input rate, cache reads at the cache-read rate,
cache writes at the 5-minute rate except the 1-hour part, output at the output rate, and
reasoning tokens at the reasoning rate where a model has one (else output). A kind a model has
no price for falls back to its parent kind, as genai-prices does (1-hour write → write → input).
Codex counts reasoning inside ``output_tokens``; Gemini reports its thoughts beside output, so
they are billed on top. A model found nowhere has no price: callers show "unknown", never $0.
Dated prices (genai-prices records list-price changes) are taken at the moment the caller gives.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from config.agents import reasoning_beside_output

__all__ = [
    "KINDS",
    "ModelPrice",
    "PriceBook",
    "Rates",
    "TokenCounts",
    "price_source",
]

# Price kinds, per million tokens, in our names; the genai-prices key of each.
KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
_SOURCE_KEYS = {
    "input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok", "cache_write_1h": "cache_write_1h_mtok",
    "reasoning": "output_reasoning_mtok",
}  # fmt: skip
_PARENT = {"cache_read": "input", "cache_write": "input", "cache_write_1h": "cache_write",
           "reasoning": "output"}  # fmt: skip
_PER = 1_000_000
_BEDROCK = re.compile(r"^(?:[a-z]{2,6}\.)?(?:anthropic|meta|amazon|openai|mistral)\.")
_DASHED_VERSION = re.compile(r"^(gpt-\d+)-(\d)(?=-|$)")
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for each kind, resolved for one prompt size and moment."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    reasoning: float


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """One request's (or one cell's) tokens as the store keeps them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0

    def cost(self, rates: Rates, agent: str) -> float:
        """USD at ``rates``; ``agent`` says whether reasoning is inside output or beside it."""
        write_1h = min(self.cache_creation_1h_tokens, self.cache_creation_tokens)
        if reasoning_beside_output(agent):
            reasoning, plain_output = self.reasoning_tokens, self.output_tokens
        else:
            reasoning = min(self.reasoning_tokens, self.output_tokens)
            plain_output = self.output_tokens - reasoning
        return (
            self.input_tokens * rates.input
            + self.cache_read_tokens * rates.cache_read
            + (self.cache_creation_tokens - write_1h) * rates.cache_write
            + write_1h * rates.cache_write_1h
            + plain_output * rates.output
            + reasoning * rates.reasoning
        )


# A price per million tokens: one number, or a base with (threshold, price) cliffs.
Tiered = tuple[Decimal, tuple[tuple[int, Decimal], ...]]


@dataclass(frozen=True)
class ModelPrice:
    """One model's prices: a fixed set, or the source's model whose prices may be dated."""

    name: str  # where the price came from: "anthropic/claude-sonnet-4-5", "override:qwen*"
    fixed: Mapping[str, Tiered] | None = None
    source_model: Any = field(default=None, compare=False)

    def rates(self, moment: datetime, prompt_tokens: int) -> Rates:
        """Rates for a request of ``prompt_tokens`` (cached included) made at ``moment``."""
        prices = self.fixed if self.fixed is not None else _source_prices(self.source_model, moment)
        per_kind: dict[str, float] = {}
        for kind in KINDS:
            per_kind[kind] = _rate(prices, kind, prompt_tokens)
        return Rates(**per_kind)

    def thresholds(self) -> set[int]:
        """The prompt sizes at which any of this model's rates change."""
        prices = self.fixed if self.fixed is not None else _all_source_tiers(self.source_model)
        return {start for _, tiers in prices.values() for start, _ in tiers}


def _rate(prices: Mapping[str, Tiered], kind: str, prompt_tokens: int) -> float:
    current: str | None = kind
    while current is not None:
        tiered = prices.get(current)
        if tiered is not None:
            base, tiers = tiered
            chosen = base
            for start, price in tiers:
                if prompt_tokens > start:
                    chosen = price
            return float(chosen) / _PER
        current = _PARENT.get(current)
    return 0.0


def _tiered(value: Any) -> Tiered | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value, ()
    tiers = tuple(sorted((int(t.start), Decimal(t.price)) for t in value.tiers))
    return Decimal(value.base), tiers


def _source_prices(model: Any, moment: datetime) -> dict[str, Tiered]:
    price = model.get_prices(moment)
    out: dict[str, Tiered] = {}
    for kind, key in _SOURCE_KEYS.items():
        tiered = _tiered(getattr(price, key, None))
        if tiered is not None:
            out[kind] = tiered
    return out


def _all_source_tiers(model: Any) -> dict[str, Tiered]:
    """Every dated price set of a source model, merged (only their thresholds are used)."""
    sets = (
        [model.prices] if not isinstance(model.prices, list) else [c.prices for c in model.prices]
    )
    out: dict[str, Tiered] = {}
    for index, price in enumerate(sets):
        for kind, key in _SOURCE_KEYS.items():
            tiered = _tiered(getattr(price, key, None))
            if tiered is not None:
                out[f"{kind}{index}"] = tiered
    return out


class PriceBook:
    """Model name → price: the user's overrides first, then genai-prices (cached per name)."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Tiered]] | None = None) -> None:
        self._overrides = {pattern.lower(): prices for pattern, prices in (overrides or {}).items()}
        self._cache: dict[str, ModelPrice | None] = {}

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model`` as an agent wrote it, or None when nobody knows it."""
        if model not in self._cache:
            self._cache[model] = self._find(model)
        return self._cache[model]

    def _find(self, model: str) -> ModelPrice | None:
        name = model.lower()
        for pattern, prices in self._overrides.items():
            if fnmatch.fnmatchcase(name, pattern):
                return ModelPrice(f"override:{pattern}", fixed=prices)
        for candidate, provider in _candidates(name):
            found = _source_lookup(candidate, provider)
            if found is not None:
                provider_id, source_model = found
                return ModelPrice(f"{provider_id}/{source_model.id}", source_model=source_model)
        return None

    def thresholds(self) -> tuple[int, ...]:
        """Every prompt size at which some known price changes (overrides included)."""
        found = set(_source_thresholds())
        for prices in self._overrides.values():
            found |= {start for _, tiers in prices.values() for start, _ in tiers}
        return tuple(sorted(found))


def _candidates(name: str) -> Iterator[tuple[str, str | None]]:
    """Spellings to try, most literal first: agents write Bedrock ids, routing prefixes
    (``converse/``), Vertex ``@`` dates and dashed versions (``gpt-5-1-codex-2025-11-13``)."""
    tail = name.rsplit("/", 1)[-1]
    for text in dict.fromkeys((name, tail)):
        if _BEDROCK.match(text):
            yield text, "aws"
        yield text, None
    plain = _BEDROCK.sub("", tail)
    plain = re.sub(r"-v\d+(?::\d+)?$", "", plain).replace("@", "-")
    dotted = _DASHED_VERSION.sub(r"\1.\2", plain)
    for text in dict.fromkeys((plain, dotted, _DATE_SUFFIX.sub("", dotted))):
        yield text, None
    yield f"{plain}-preview", None  # e.g. gemini-3-pro, released to Gemini CLI as a preview


@lru_cache(maxsize=1)
def _snapshot() -> Any:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def _source_lookup(name: str, provider: str | None) -> tuple[str, Any] | None:
    try:
        found_provider, model = _snapshot().find_provider_model(name, None, provider, None)
    except LookupError:
        return None
    return str(found_provider.id), model


@lru_cache(maxsize=1)
def _source_thresholds() -> frozenset[int]:
    found: set[int] = set()
    for provider in _snapshot().providers:
        for model in provider.models:
            found |= ModelPrice("", source_model=model).thresholds()
    return frozenset(found)


def price_source() -> dict[str, str]:
    """The price list's name and version, as reports state it."""
    return {"source": "genai-prices", "version": version("genai-prices")}
