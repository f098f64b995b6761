"""A message's words, bounded: the preview stored with a message and a session's fallback title.

People looking at a session need to see what was asked and answered, but a transcript line can
hold megabytes and secrets: only the first ``preview_chars`` characters are kept (0 turns
previews off), and redaction is applied centrally to ``Event.preview`` and
``SessionInfo.title`` before they are stored. A session without a title of the agent's own
takes its first real prompt's first line; injected scaffolding (``<environment_context>``,
slash-command wrappers, AGENTS.md instructions, caveats) is not a prompt.

Pure: strings in, strings out.
"""

from __future__ import annotations

from typing import Any

from collector.parsers.sanitize import clean_text

__all__ = ["content_text", "is_scaffolding", "preview", "title_from_prompt"]

TITLE_CHARS = 120
# Editors that wrap the typed request in context put it after this heading (Codex desktop/IDE).
_REQUEST_MARK = "## My request for Codex:"
_SCAFFOLDING = ("<", "# AGENTS.md", "Caveat:", "# Context from my IDE")


def content_text(content: Any, limit: int) -> str:
    """The text of a message's content (a string, or ``text`` blocks / ``{text}`` parts),
    at most about ``limit`` characters (more are not needed)."""
    if isinstance(content, str):
        return content[:limit]
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    size = 0
    for block in content:
        if not isinstance(block, dict) or block.get("type", "text") not in (
            "text",
            "input_text",
            "output_text",
        ):
            continue
        text = block.get("text")
        if isinstance(text, str) and text:
            parts.append(text)
            size += len(text) + 1
            if size >= limit:
                break
    return "\n".join(parts)[:limit]


def preview(text: str, limit: int) -> str | None:
    """The first ``limit`` characters of ``text``; None when off (0) or there are no words."""
    if limit <= 0 or not text or text.isspace():
        return None
    return clean_text(text[:limit])


def is_scaffolding(text: str) -> bool:
    """Text the agent injected around the user's words rather than a typed prompt."""
    return text.lstrip().startswith(_SCAFFOLDING)


def title_from_prompt(text: str) -> str | None:
    """A title from a prompt: its first non-empty line, cut to ``TITLE_CHARS`` characters."""
    if _REQUEST_MARK in text:
        text = text.split(_REQUEST_MARK, 1)[1]
    if not text or is_scaffolding(text):
        return None
    for line in text.splitlines():
        words = " ".join(line.split())
        if words:
            return clean_text(
                words if len(words) <= TITLE_CHARS else words[: TITLE_CHARS - 1] + "…"
            )
    return None
