"""Read the file changes out of OpenAI Codex ``apply_patch`` calls.

Codex does not use separate file tools: every write, edit, delete and rename goes through
one ``apply_patch`` call whose input is a patch envelope (grammar in openai/codex
``codex-rs/apply-patch/src/parser.rs``)::

    *** Begin Patch
    *** Add File: path/to/new.py
    +line
    *** Update File: src/app.py
    *** Move to: src/new_app.py
    @@ ...
    -old
    +new
    *** Delete File: old.txt
    *** End Patch

Only the section headers matter here; hunk bodies are skipped. Hunk lines always start
with ``+``, ``-``, a space or ``@@``, so a header can only be a line that starts with
``***`` -- after removing the indentation of the whole patch, never per line, so a context
line that happens to contain ``*** Add File:`` is not mistaken for a header.

The input arrives in several wrappings, all accepted: the raw text of a
``custom_tool_call``; the JSON ``arguments`` of an older ``function_call``
(``{"input": "…"}`` or ``{"command": ["apply_patch", "…"]}``); a shell heredoc
(``apply_patch <<'EOF' … EOF``); CRLF line ends; missing Begin/End markers. Malformed
text yields fewer changes, never an exception.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable

import msgspec

__all__ = ["PatchChange", "file_operations", "parse_patch"]

_HEADER = re.compile(r"\*\*\* (Add|Update|Delete) File:[ \t]*(.*?)\s*")
_MOVE = re.compile(r"\*\*\* Move to:[ \t]*(.*?)\s*")
_BEGIN = re.compile(r"\*\*\* (?:Begin Patch|(?:Add|Update|Delete) File:)")
_ACTIONS = {"Add": "add", "Update": "update", "Delete": "delete"}
_OPERATIONS = {"add": "write", "update": "edit", "delete": "delete"}
_JSON_KEYS = ("input", "patch", "command", "cmd", "arguments", "script")
_MAX_UNWRAP = 4  # JSON inside JSON: a function_call line holding an arguments string


class PatchChange(msgspec.Struct, frozen=True):
    """One file section of a patch: ``action`` is ``add``, ``update`` or ``delete``."""

    path: str
    action: str
    move_to: str | None = None


def parse_patch(text: str) -> list[PatchChange]:
    """Return the file sections of an ``apply_patch`` input, in patch order.

    Sections are reported as written, duplicates included; :func:`file_operations`
    is the place that deduplicates.
    """
    if not isinstance(text, str):
        return []
    lines = _patch_lines(_unwrap_json(text))
    changes: list[PatchChange] = []
    for line in lines:
        header = _HEADER.fullmatch(line)
        move = _MOVE.fullmatch(line)
        if header and header.group(2):
            changes.append(PatchChange(header.group(2), _ACTIONS[header.group(1)]))
        elif move and move.group(1) and changes and _can_move(changes[-1]):
            changes[-1] = PatchChange(changes[-1].path, "update", move.group(1))
    return changes


def file_operations(changes: Iterable[PatchChange]) -> list[tuple[str, str]]:
    """Map changes to ``(path, operation)`` with operation ``write``, ``edit`` or ``delete``.

    A move is a delete of the old path and a write of the new one, even when its hunks
    also edit the content: the old path stops existing and the new one is created.
    Identical pairs are reported once, in first-seen order.
    """
    operations: dict[tuple[str, str], None] = {}
    for change in changes:
        if change.action == "update" and change.move_to:
            operations[(change.path, "delete")] = None
            operations[(change.move_to, "write")] = None
        elif change.action in _OPERATIONS:
            operations[(change.path, _OPERATIONS[change.action])] = None
    return list(operations)


def _can_move(change: PatchChange) -> bool:
    """``*** Move to:`` belongs to the update section it follows, once."""
    return change.action == "update" and change.move_to is None


def _patch_lines(text: str) -> list[str]:
    """Split on any line ending and strip the indentation shared by the whole patch."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((line for line in lines if _BEGIN.match(line.lstrip())), None)
    if first is None:
        return lines
    indent = first[: len(first) - len(first.lstrip())]
    return [line.removeprefix(indent) for line in lines]


def _unwrap_json(text: str) -> str:
    """Find the patch inside JSON wrappings; plain text is returned unchanged.

    A JSON-escaped fragment that does not decode (``*** Begin Patch\\n*** Add File: …``,
    cut short or never quoted) has its escapes undone so its lines can still be read.
    """
    for _ in range(_MAX_UNWRAP):
        stripped = text.strip()
        if stripped[:1] not in ("{", "[", '"'):
            break
        try:
            decoded = json.loads(stripped)
        except (ValueError, RecursionError):
            break
        found = _find_patch_text(decoded)
        if found is None:
            break
        text = found
    if "\n" not in text and "\\n" in text:
        return _unescape(text)
    return text


def _find_patch_text(value: object) -> str | None:
    """The first string in a decoded JSON value that holds a patch header."""
    pending = deque([value])
    while pending:
        item = pending.popleft()
        if isinstance(item, str):
            if "*** " in item:
                return item
        elif isinstance(item, dict):
            keys = sorted(item, key=lambda key: key not in _JSON_KEYS)
            pending.extend(item[key] for key in keys)
        elif isinstance(item, list):
            pending.extend(item)
    return None


def _unescape(text: str) -> str:
    """Undo the JSON string escapes that matter for finding headers and paths."""
    stripped = text.strip().removeprefix('"').removesuffix('"')
    for escaped, plain in (("\\r\\n", "\n"), ("\\n", "\n"), ("\\t", "\t"), ('\\"', '"')):
        stripped = stripped.replace(escaped, plain)
    return stripped.replace("\\\\", "\\")
