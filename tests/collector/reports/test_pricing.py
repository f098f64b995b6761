"""Pricing against genai-prices' own calculator, request by request: the library applies its
rules (leaf decomposition, tiers on the whole prompt) to the raw usage; ours resolves rates once
and multiplies. Every case is computed by the library, not by the code under test."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.reports.pricing import PriceBook, TokenCounts, price_source

WHEN = datetime(2026, 1, 15, 12, tzinfo=UTC)


def library_cost(model: str, counts: TokenCounts, agent: str, provider: str | None = None) -> float:
    """genai-prices on the request as an API would report it: input is the whole prompt."""
    prompt = counts.input_tokens + counts.cache_read_tokens + counts.cache_creation_tokens
    output = counts.output_tokens + (counts.reasoning_tokens if agent == "gemini" else 0)
    usage = Usage(input_tokens=prompt, cache_read_tokens=counts.cache_read_tokens,
                  cache_write_tokens=counts.cache_creation_tokens,
                  cache_write_1h_tokens=counts.cache_creation_1h_tokens,
                  output_tokens=output,
                  output_reasoning_tokens=counts.reasoning_tokens)  # fmt: skip
    kwargs = {"provider_id": provider} if provider else {}
    return float(calc_price(usage, model, genai_request_timestamp=WHEN, **kwargs).total_price)


def our_cost(model: str, counts: TokenCounts, agent: str) -> float:
    price = PriceBook().lookup(model)
    assert price is not None
    prompt = counts.input_tokens + counts.cache_read_tokens + counts.cache_creation_tokens
    return counts.cost(price.rates(WHEN, prompt), agent)


CASES = [
    # model, counts, agent
    ("claude-sonnet-4-5-20250929", TokenCounts(1200, 800, 5000, 0, 90000), "claude-code"),
    # over 200k prompt tokens: every kind at the higher tier
    ("claude-sonnet-4-5-20250929", TokenCounts(3000, 2500, 20000, 0, 190000), "claude-code"),
    # 1-hour cache writes at their own rate
    ("claude-opus-4-7", TokenCounts(10, 900, 40000, 30000, 100000), "claude-code"),
    ("claude-haiku-4-5-20251001", TokenCounts(500, 40, 1000, 1000, 0), "claude-code"),
    # Codex: reasoning is inside output
    ("gpt-5-codex", TokenCounts(7000, 1200, 0, 0, 60000, 800), "codex"),
    ("gpt-5.5", TokenCounts(300_000, 1200, 0, 0, 10000, 300), "codex"),
    # Gemini: thoughts beside output, billed on top; tiered above 200k
    ("gemini-2.5-pro", TokenCounts(25000, 1400, 0, 0, 60000, 2900), "gemini"),
    ("gemini-2.5-pro", TokenCounts(150000, 1400, 0, 0, 60000, 2900), "gemini"),
]


class TestAgainstTheLibrary:
    """Each request priced by genai-prices itself and by our resolved rates."""

    @pytest.mark.parametrize(("model", "counts", "agent"), CASES)
    def test_request_cost(self, model: str, counts: TokenCounts, agent: str) -> None:
        """Same cost to a millionth of a cent."""
        assert our_cost(model, counts, agent) == pytest.approx(
            library_cost(model, counts, agent), rel=1e-9, abs=1e-12
        )

    def test_tier_is_a_cliff_on_the_whole_prompt(self) -> None:
        """Anthropic's rule: one token over 200k prices every token at the higher rate."""
        below = TokenCounts(1, 1000, 0, 0, 199_999)
        above = TokenCounts(2, 1000, 0, 0, 199_999)
        model = "claude-sonnet-4-5"
        assert our_cost(model, below, "claude-code") == pytest.approx(
            (1 * 3 + 1000 * 15 + 199_999 * 0.3) / 1e6
        )
        assert our_cost(model, above, "claude-code") == pytest.approx(
            (2 * 6 + 1000 * 22.5 + 199_999 * 0.6) / 1e6
        )

    @settings(max_examples=150, deadline=None)
    @given(
        model=st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-5", "gpt-5", "gemini-2.5-pro",
                               "claude-3-5-haiku-20241022", "gpt-5.4"]),
        fresh=st.integers(0, 400_000), out=st.integers(0, 64_000),
        write=st.integers(0, 200_000), share_1h=st.floats(0, 1), read=st.integers(0, 400_000),
        reasoning=st.integers(0, 64_000), agent=st.sampled_from(["claude-code", "codex", "gemini"]),
    )  # fmt: skip
    def test_any_request(
        self,
        model: str,
        *,
        fresh: int,
        out: int,
        write: int,
        share_1h: float,
        read: int,
        reasoning: int,
        agent: str,
    ) -> None:
        """Any mix of token kinds and sizes, either side of any tier."""
        if agent != "gemini":
            reasoning = min(reasoning, out)
        counts = TokenCounts(fresh, out, write, int(write * share_1h), read, reasoning)
        assert our_cost(model, counts, agent) == pytest.approx(
            library_cost(model, counts, agent), rel=1e-9, abs=1e-12
        )


class TestNames:
    """How agents spell models, and models nobody prices."""

    @pytest.mark.parametrize(("written", "priced_as"), [
        ("claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        ("converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0",
         "aws/regional.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0",
         "aws/global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("claude-sonnet-4-5@20250929", "anthropic/claude-sonnet-4-5"),
        ("gpt-5-1-codex-2025-11-13", "openai/gpt-5.1"),
        ("gemini-3-pro", "google/gemini-3-pro-preview"),
    ])  # fmt: skip
    def test_spellings(self, written: str, priced_as: str) -> None:
        price = PriceBook().lookup(written)
        assert price is not None
        assert price.name == priced_as

    def test_bedrock_regional_costs_ten_percent_more(self) -> None:
        """Bedrock's regional endpoints list Claude 4.5 at 110 % of Anthropic's price."""
        counts = TokenCounts(1_000_000, 0, 0, 0, 0)
        regional = our_cost("jp.anthropic.claude-haiku-4-5-20251001-v1:0", counts, "claude-code")
        direct = our_cost("claude-haiku-4-5-20251001", counts, "claude-code")
        assert regional == pytest.approx(direct * 1.1)

    @pytest.mark.parametrize("model", ["qwen3:0.6b", "unknown", "my-local-llama"])
    def test_unknown_models_have_no_price(self, model: str) -> None:
        assert PriceBook().lookup(model) is None

    def test_source_is_named_with_its_version(self) -> None:
        from importlib.metadata import version

        assert price_source() == {"source": "genai-prices", "version": version("genai-prices")}


class TestOverrides:
    """--pricing prices: patterns, fallbacks between kinds, tiers."""

    def book(self) -> PriceBook:
        return PriceBook({
            "qwen3:*": {"input": (Decimal("0.5"), ()), "output": (Decimal("1"), ())},
            "claude-sonnet-4-5*": {
                "input": (Decimal(2), ((100_000, Decimal(4)),)),
                "output": (Decimal(10), ()),
                "cache_write": (Decimal("2.5"), ()),
            },
        })  # fmt: skip

    def test_pattern_match_and_fallbacks(self) -> None:
        """Unpriced kinds fall back to their parent: cache → input, reasoning → output."""
        price = self.book().lookup("QWEN3:0.6b")
        assert price is not None
        assert price.name == "override:qwen3:*"
        counts = TokenCounts(1000, 100, 200, 50, 300, 40)
        rates = price.rates(WHEN, 1500)
        expected = (1000 * 0.5 + 300 * 0.5 + 200 * 0.5 + 100 * 1) / 1e6
        assert counts.cost(rates, "codex") == pytest.approx(expected)

    def test_override_wins_over_the_list_with_tiers(self) -> None:
        price = self.book().lookup("claude-sonnet-4-5-20250929")
        assert price is not None
        assert price.name.startswith("override:")
        small = price.rates(WHEN, 100_000)
        big = price.rates(WHEN, 100_001)
        assert (small.input, big.input) == (pytest.approx(2e-6), pytest.approx(4e-6))
        assert big.cache_write_1h == pytest.approx(2.5e-6)  # 1h → 5-minute write price
        assert big.cache_read == pytest.approx(4e-6)  # → input, at its tier
        assert 100_000 in self.book().thresholds()
