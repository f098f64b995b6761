"""Files beside a transcript that say what its lines do not: read when its parser is made.

- Claude Code subagents: ``agent-<id>.meta.json`` (a JSON object: description, agent type).
- Gemini CLI: ``~/.gemini/tmp/<project>/.project_root`` holds the project's path as plain text
  (Gemini records no working directory in its chats), and ``~/.gemini/projects.json``
  (``{"projects": {"<path>": "<project>"}}``) maps it the other way when the marker is missing.

A missing, unreadable or malformed file is None: the parser then works without it. Like every
transcript, a sidecar is opened without following links and only if it is a regular file.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from collector.ingest.checkpoint import open_regular

__all__ = ["GEMINI_MARKER", "read_sidecar"]

GEMINI_MARKER = ".project_root"
_MAX = 64 * 1024


def read_sidecar(path: str) -> dict[str, Any] | None:
    """The decoded sidecar at ``path`` (a dict), or None."""
    if os.path.basename(path) == GEMINI_MARKER:
        return _gemini_project(path)
    try:
        with open(open_regular(path), "rb") as handle:
            value = orjson.loads(handle.read(_MAX))
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _gemini_project(marker: str) -> dict[str, Any] | None:
    try:
        with open(open_regular(marker), "rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    if text and os.path.isabs(text):
        return {"project_root": text}
    project = os.path.basename(os.path.dirname(marker))
    listed = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(marker))),
                          "projects.json")  # fmt: skip
    try:
        with open(open_regular(listed), "rb") as handle:
            data = orjson.loads(handle.read(_MAX))
    except (OSError, orjson.JSONDecodeError):
        return None
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        return None
    found = [p for p, name in projects.items() if name == project and isinstance(p, str)]
    return {"project_root": found[0]} if len(found) == 1 else None
