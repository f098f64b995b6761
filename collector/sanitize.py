"""Make decoded transcript text safe for SQLite and bounded in size.

Claude Code writes JSON escapes for lone surrogates (``"\\udcb2"``) and split emoji pairs;
``orjson``/``json`` hand back a ``str`` that cannot be encoded as UTF-8, and SQLite rejects it.
Every string that reaches the store goes through ``clean_text``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["cap_json", "clean_text", "line_prefix"]

_SURROGATES = re.compile("[\ud800-\udfff]")
_PREFIX_CHARS = 120


def clean_text(text: str) -> str:
    """Replace lone surrogates and NUL characters with U+FFFD."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    return _SURROGATES.sub("\ufffd", text).replace("\x00", "\ufffd")


def cap_json(value: Any, limit: int) -> str:
    """JSON text of ``value`` cut to ``limit`` characters (a cut value is no longer valid JSON).

    orjson refuses lone surrogates and integers beyond 64 bits; those values go through the
    standard library's encoder instead and the text is cleaned.
    """
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:
        text = clean_text(json.dumps(value, default=str, ensure_ascii=False))
    return text if len(text) <= limit else text[:limit] + "…"


def line_prefix(line: bytes) -> str:
    """A short, printable prefix of a raw line for problem records (never the whole line)."""
    return clean_text(line[:_PREFIX_CHARS].decode("utf-8", "backslashreplace"))
