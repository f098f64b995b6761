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
from typing import TYPE_CHECKING, Any, Protocol

from collector.parsers.sanitize import line_prefix
from collector.parsers.text import content_text, title_from_prompt
from store.records import ParseProblem, Record, SessionInfo

if TYPE_CHECKING:  # sources imports this module (``load``)
    from collector.parsers.sources import SourceFile

__all__ = [
    "DEFAULT_OPTIONS",
    "ParserBase",
    "ParserOptions",
    "TranscriptParser",
    "load",
    "see_time",
]


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


class ParserBase:
    """The constructor every parser shares, as ``make_parser`` calls it.

    ``state`` is what an earlier instance's ``state()`` returned and ``sidecar`` the decoded
    metadata file beside the transcript, if the agent writes one; anything but a JSON object
    reads as an empty one. Each parser rebuilds what it remembers in ``_restore``.
    """

    def __init__(
        self,
        source: SourceFile,
        state: dict[str, Any] | None = None,
        options: ParserOptions = DEFAULT_OPTIONS,
        sidecar: dict[str, Any] | None = None,
    ) -> None:
        self._source = source
        self._path = source.path
        self._sid = source.session_id
        self._options = options
        saved = state if isinstance(state, dict) else {}
        self._restore(saved, sidecar if isinstance(sidecar, dict) else {})

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        """Take up the state an earlier instance saved (nothing to take up by default)."""

    def parse_document(self, data: bytes) -> list[Record]:
        """JSONL transcripts have no whole-document form."""
        return []

    def _failed(self, data: bytes, offset: int, exc: Exception) -> list[Record]:
        """What a line (or document) the parser failed on becomes: a problem naming the error,
        so one bad line never stops the file."""
        reason = f"parser error: {type(exc).__name__}"
        return [ParseProblem(self._path, offset, reason, line_prefix(data))]

    def _session(self, **fields: Any) -> SessionInfo:
        """A ``SessionInfo`` of this file's session with ``fields`` (and its parent, if any)."""
        return SessionInfo(
            session_id=self._sid,
            agent=self._source.agent,
            transcript_path=self._path,
            parent_session_id=self._source.parent_session_id,
            **fields,
        )

    def _prompt_title(self, content: Any) -> list[SessionInfo]:
        """The session's title from its first real prompt, once, for agents that record none
        of their own (their parsers keep ``_titled`` in their state)."""
        if getattr(self, "_titled", False):
            return []
        title = title_from_prompt(content_text(content, 400))
        if title is None:
            return []
        self._titled = True
        return [self._session(title=title, title_fallback=True)]


def see_time(
    ts: str, first: str | None, last: str | None, new: dict[str, Any], stated: bool = False
) -> tuple[str, str]:
    """The session's first and last timestamps once ``ts`` is seen.

    ``new`` (the facts a line taught) gains ``first_seen`` when ``ts`` is the earliest yet, and
    ``last_activity`` when it is the latest and there is a record to carry it anyway (or the
    transcript ``stated`` it): activity alone needs no record, the store derives it from events.
    """
    if first is None or ts < first:
        first = new["first_seen"] = ts
    if last is None or ts > last:
        last = ts
        if new or stated:
            new["last_activity"] = ts
    return first, last


@functools.cache
def load(ref: str) -> Any:
    """What a row of the agents table (``config.agents``) names as ``module:attribute``: its
    parser class or path classifier, imported on first use (config/ cannot import us)."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)
