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

__all__ = ["cap_json", "clean_text", "cut_utf8", "line_prefix"]

_SURROGATES = re.compile("[\ud800-\udfff]")
_PREFIX_CHARS = 120


def clean_text(text: str) -> str:
    """Replace lone surrogates and NUL characters with U+FFFD.

    Non-ASCII text is tested by encoding it: the codec refuses surrogates and the NUL search
    then runs on bytes, several times faster than a regex scan of the characters.
    """
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).replace("\x00", "\ufffd")
    return text.replace("\x00", "\ufffd") if b"\x00" in data else text


def cap_json(value: Any, limit: int) -> str:
    """JSON text of ``value`` cut to ``limit`` characters (a cut value is no longer valid JSON).

    orjson refuses lone surrogates and integers beyond 64 bits; those values go through the
    standard library's encoder instead and the text is cleaned.
    """
    try:
        data = orjson.dumps(value, default=str)
    except TypeError:
        text = clean_text(json.dumps(value, default=str, ensure_ascii=False))
        return text if len(text) <= limit else text[:limit] + "…"
    return data.decode() if len(data) <= limit else cut_utf8(data, limit)


def cut_utf8(data: bytes, limit: int) -> str:
    """UTF-8 ``data`` decoded and cut to ``limit`` characters, with ``…`` marking a cut.

    Decoding is paid per byte, so a long value is decoded only as far as its first
    ``limit + 1`` characters can reach: a quarter more bytes than characters covers
    mostly-ASCII text, and 4 bytes a character covers any. Invalid bytes (callers pass
    orjson's output or lines it accepted, which are valid) are dropped, never raised.
    """
    if len(data) <= limit:  # no more characters than bytes
        return data.decode("utf-8", "ignore")
    # First a sixteenth more bytes than characters, which covers text with a non-ASCII
    # character every few dozen: a prefix decodes to a prefix of the whole text, so more than
    # ``limit`` characters of it settle the answer (decoding is paid per byte, ~0.5 ns each).
    text = data[: limit + (limit >> 4) + 4].decode("utf-8", "ignore")
    if len(text) > limit:
        return text[:limit] + "…"
    head = data[:limit]
    if head.isascii():  # limit characters, and at least one byte more
        return head.decode("ascii") + "…"
    guess = limit + limit // 4 + 4
    if len(data) > guess:
        text = data[:guess].decode("utf-8", "ignore")  # drops a character cut in two
        if len(text) > limit:
            return text[:limit] + "…"
    if len(data) > 4 * limit:  # more than limit characters, all the first ones complete
        return data[: 4 * limit].decode("utf-8", "ignore")[:limit] + "…"
    text = data.decode("utf-8", "ignore")
    return text if len(text) <= limit else text[:limit] + "…"


def line_prefix(line: bytes) -> str:
    """A short, printable prefix of a raw line for problem records (never the whole line)."""
    return clean_text(line[:_PREFIX_CHARS].decode("utf-8", "backslashreplace"))
