"""One parser per agent behind the ``TranscriptParser`` interface, chosen by the file's source
through the agents table (``config.agents``)."""

from __future__ import annotations

from typing import Any

from collector.parsers.base import DEFAULT_OPTIONS, ParserOptions, TranscriptParser, load
from collector.parsers.sources import SourceFile
from config.agents import by_name

__all__ = ["DEFAULT_OPTIONS", "ParserOptions", "TranscriptParser", "make_parser"]


def make_parser(
    source: SourceFile,
    state: dict[str, Any] | None = None,
    options: ParserOptions = DEFAULT_OPTIONS,
    sidecar: dict[str, Any] | None = None,
) -> TranscriptParser:
    """The parser for ``source``'s agent, resumed from ``state`` when given."""
    agent = by_name(source.agent)
    if agent is None:
        raise ValueError(f"no parser for agent {source.agent!r}")
    parser: TranscriptParser = load(agent.parser)(source, state, options, sidecar)
    return parser
