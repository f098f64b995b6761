"""One parser per agent behind the ``TranscriptParser`` interface, chosen by the file's source."""

from __future__ import annotations

from typing import Any

from collector.parsers.base import DEFAULT_OPTIONS, ParserOptions, TranscriptParser
from collector.parsers.sources import SourceFile

__all__ = ["DEFAULT_OPTIONS", "ParserOptions", "TranscriptParser", "make_parser"]


def make_parser(
    source: SourceFile,
    state: dict[str, Any] | None = None,
    options: ParserOptions = DEFAULT_OPTIONS,
    sidecar: dict[str, Any] | None = None,
) -> TranscriptParser:
    """The parser for ``source``'s agent, resumed from ``state`` when given."""
    if source.agent == "claude-code":
        from collector.parsers.claude import ClaudeParser

        return ClaudeParser(source, state, options, sidecar)
    if source.agent == "codex":
        from collector.parsers.codex import CodexParser

        return CodexParser(source, state, options, sidecar)
    if source.agent == "copilot":
        from collector.parsers.copilot import CopilotParser

        return CopilotParser(source, state, options, sidecar)
    if source.agent == "gemini":
        from collector.parsers.gemini import GeminiParser

        return GeminiParser(source, state, options, sidecar)
    raise ValueError(f"no parser for agent {source.agent!r}")
