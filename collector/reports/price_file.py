"""``--pricing FILE``: the user's own prices, for models the price list lacks or prices wrongly
(a local model, a negotiated rate, a gateway's markup).

TOML (or JSON with a ``.json`` name), USD per million tokens; model names may be shell-style
patterns and match case-insensitively; a kind left out falls back as in ``pricing``::

    [models."qwen3:*"]
    input = 0
    output = 0

    [models."claude-sonnet-4-5*"]
    input = 3.0
    output = 15.0
    cache_read = 0.3
    cache_write = 3.75        # 5-minute cache writes
    cache_write_1h = 6.0
    tiers = [{ above = 200000, input = 6.0, output = 22.5, cache_read = 0.6,
               cache_write = 7.5, cache_write_1h = 12.0 }]
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from collector.reports.pricing import KINDS, Tiered
from config.errors import ConfigError

__all__ = ["load_price_file"]


def load_price_file(path: str | Path) -> dict[str, dict[str, Tiered]]:
    """Pattern → kind → price; a ``ConfigError`` naming the file and key when unusable."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, "", f"cannot read the price file: {exc}") from None
    try:
        data = json.loads(text) if where.endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(where, None, "", f"not valid TOML/JSON: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not models:
        raise ConfigError(where, None, "models", 'expected a [models."NAME"] table per model')
    return {str(name): _model(where, str(name), spec) for name, spec in models.items()}


def _model(where: str, name: str, spec: Any) -> dict[str, Tiered]:
    key = f"models.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(where, None, key, "expected a table of prices")
    unknown = set(spec) - {*KINDS, "tiers"}
    if unknown:
        raise ConfigError(where, None, f"{key}.{sorted(unknown)[0]}",
                          f"unknown price kind; use {', '.join(KINDS)} or tiers")  # fmt: skip
    if "input" not in spec or "output" not in spec:
        raise ConfigError(where, None, key, "input and output prices are required")
    tiers = spec.get("tiers", [])
    if not isinstance(tiers, list):
        raise ConfigError(where, None, f"{key}.tiers", "expected a list of tables")
    out: dict[str, Tiered] = {}
    for kind in KINDS:
        if kind in spec:
            base = _price(where, f"{key}.{kind}", spec[kind])
            out[kind] = (base, _tiers(where, key, kind, tiers))
    return out


def _tiers(where: str, key: str, kind: str, tiers: list[Any]) -> tuple[tuple[int, Decimal], ...]:
    found = []
    for index, tier in enumerate(tiers):
        tier_key = f"{key}.tiers[{index}]"
        above = tier.get("above") if isinstance(tier, dict) else None
        if isinstance(above, bool) or not isinstance(above, int) or above < 0:
            raise ConfigError(where, None, f"{tier_key}.above", "expected a token count >= 0")
        if kind in tier:
            found.append((above, _price(where, f"{tier_key}.{kind}", tier[kind])))
    return tuple(sorted(found))


def _price(where: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(where, None, key, "expected a price in USD per million tokens")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(where, None, key, "expected a number") from None
    if not price.is_finite() or price < 0:
        raise ConfigError(where, None, key, "expected a finite price >= 0")
    return price
