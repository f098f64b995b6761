"""Decoding one transcript line, shared by every parser.

orjson is fast but rejects JSON escapes of lone surrogates (``"\\udcb2"``), which Claude Code
writes legally; those lines fall back to the standard library's ``json`` and every string is then
cleaned (see ``collector.parsers.sanitize``) before it can reach SQLite.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

import orjson

from collector.parsers.sanitize import clean_text, line_prefix
from store.records import ParseProblem

__all__ = ["clean_tree", "decode_line", "resolve_path"]


def decode_line(line: bytes, offset: int, path: str) -> dict[str, Any] | ParseProblem:
    """The JSON object on ``line``, or a ``ParseProblem`` saying why there is none."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = _slow_decode(line)
        if value is None:
            return ParseProblem(path, offset, _reason(line), line_prefix(line))
        value = clean_tree(value)
    if not isinstance(value, dict):
        return ParseProblem(
            path, offset, f"not a JSON object ({type(value).__name__})", line_prefix(line)
        )
    return value


def _slow_decode(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _reason(line: bytes) -> str:
    if not line.strip():
        return "empty line"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    if b"\x00" in line:
        return "NUL byte in line"
    return "invalid JSON"


def clean_tree(value: Any) -> Any:
    """``value`` with every string (keys too) passed through ``clean_text``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    return value


def resolve_path(path: str, cwd: str | None) -> str:
    """``path`` as the agent gave it if absolute, else joined to the session's cwd."""
    path = clean_text(path)
    if path.startswith("/") or (len(path) > 2 and path[1] == ":" and path[2] in "\\/"):
        return path
    if path.startswith("~"):
        return path
    if cwd:
        return posixpath.normpath(posixpath.join(cwd, path))
    return path
