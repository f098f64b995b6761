"""The one small interface every agent's parser implements.

A parser instance belongs to one transcript file. It is pure: bytes of one line (and the line's
byte offset) in, records out; no threads, clocks, files or database. The little state a format
needs across lines (the session's cwd for resolving relative paths, Codex's last token totals,
Claude's subagent parent) lives on the instance and is exported by ``state()`` as a JSON-able
dict that the writer commits with the file offset, so a restart resumes with it
(``make_parser(source, state=...)``).

A parser never raises on input: bad lines become ``ParseProblem`` records.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Protocol

from store.records import Record

__all__ = ["DEFAULT_OPTIONS", "ParserOptions", "TranscriptParser", "load"]


class TranscriptParser(Protocol):
    """Turns the lines of one transcript into records."""

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        """Records for one complete line (without its ``\\n``) that starts at byte ``offset``."""
        ...

    def parse_document(self, data: bytes) -> list[Record]:
        """Records for a whole-file JSON transcript (Gemini ≤ 0.38); JSONL parsers return []."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-able state to persist with the offset; passed back to the constructor."""
        ...


class ParserOptions:
    """Size caps shared by all parsers (characters of JSON text; ``preview_chars`` of a
    message's text kept as its preview, 0 = none)."""

    __slots__ = ("args_cap", "preview_chars", "raw_cap")

    def __init__(self, args_cap: int = 1024, raw_cap: int = 512, preview_chars: int = 500) -> None:
        self.args_cap = args_cap
        self.raw_cap = raw_cap
        self.preview_chars = preview_chars


DEFAULT_OPTIONS = ParserOptions()


@functools.cache
def load(ref: str) -> Any:
    """What a row of the agents table (``config.agents``) names as ``module:attribute``: its
    parser class or path classifier, imported on first use (config/ cannot import us)."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)
