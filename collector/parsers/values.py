"""Reading single values out of a decoded line whose shape nothing guarantees.

The Copilot and Gemini parsers read every field through these: a wrong type reads as absent
(``{}``, None, 0) instead of raising, so one odd field costs one fact, never the line.
"""

from __future__ import annotations

from typing import Any

from collector.parsers.sanitize import clean_text
from store.timestamps import normalize_timestamp

__all__ = ["MAX_INT", "chars", "count", "mapping", "text", "timestamp"]

MAX_INT = 2**63 - 1  # SQLite's INTEGER


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str | None:
    """A non-empty string, cleaned for SQLite; None for anything else."""
    return clean_text(value) if isinstance(value, str) and value else None


def count(value: Any) -> int | None:
    """A token count or duration: a non-negative number that fits SQLite's INTEGER."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= MAX_INT:  # also rejects NaN
        return None
    return int(value)


def timestamp(value: Any) -> str | None:
    """``value`` in the contract's timestamp form, or None when it is not a time."""
    try:
        return normalize_timestamp(value)
    except (OverflowError, ValueError):  # store.timestamps lets out-of-range offsets through
        return None


def chars(content: Any) -> int:
    """Characters of text in a message's content: a string, or parts with ``text``."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(chars(mapping(part).get("text")) for part in content)
    return 0
