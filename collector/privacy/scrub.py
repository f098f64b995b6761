"""Redaction applied to parser output: every free-text field of every record, in one place.

Which fields: every ``str`` field of a record type except the identifiers and vocabularies
listed in ``_NOT_TEXT`` (keys, timestamps, categories) — so a text field added to a record
later is redacted without anyone remembering to list it here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import chain, compress, count
from operator import attrgetter
from typing import Any

from collector.privacy.gate import suspects
from collector.privacy.redact import redact
from store.records import Event, ParseProblem, Record, SessionInfo, SessionStatus, ToolResult

__all__ = ["scrub_records", "text_fields"]

_NOT_TEXT = frozenset({
    "session_id", "agent", "agent_event_id", "timestamp", "event_type", "tool_name",
    "tool_call_id", "operation", "command_category", "status", "parent_event_id", "model",
    "source_path", "transcript_path", "agent_session_id", "first_seen", "last_activity",
    "parent_session_id", "parent_tool_call_id", "agent_version", "pid_started_at",
    "ended_at", "tmux_target", "spawned_by", "importance",
    # paths and our own words: a path is a join key, a reason is text we wrote
    "file_path", "project_dir", "git_branch", "task_file", "reason",
})  # fmt: skip


def text_fields(cls: type) -> tuple[str, ...]:
    """The fields of record type ``cls`` that hold free text (and so may hold a secret)."""
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in _NOT_TEXT and "str" in str(f.type) and "int" not in str(f.type)
    )


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: text_fields(cls) for cls in (Event, SessionInfo, ParseProblem, SessionStatus, ToolResult)
}


# One chunk's texts, a block per record type: its records, its text fields' names, and the
# fields' values row by row (None or "" where there is no text).
_Block = tuple[list[Record], tuple[str, ...], list[Any]]
_EVENT_NAMES = _FIELDS[Event]
_EVENT_ROW = attrgetter(*_EVENT_NAMES)  # all of an event's text fields in one C call


def _blocks(records: Sequence[Record]) -> list[_Block]:
    """The text blocks of ``records``. Events (most records) are picked out in one
    comprehension and read by ``attrgetter`` in C: a Python call per record cost more than
    the rest of the gate (bench/bench_parse.py)."""
    events: list[Record] = [record for record in records if type(record) is Event]
    rows = map(_EVENT_ROW, events)
    values = list(chain.from_iterable(rows) if len(_EVENT_NAMES) > 1 else rows)
    blocks = [(events, _EVENT_NAMES, values)]
    if len(events) == len(records):
        return blocks
    groups: dict[type, list[Record]] = {}
    for record in [record for record in records if type(record) is not Event]:
        if _FIELDS[type(record)]:  # KeyError: a record type without a rule
            groups.setdefault(type(record), []).append(record)
    for kind, group in groups.items():
        names = _FIELDS[kind]
        blocks.append((group, names, [getattr(r, name) for r in group for name in names]))
    return blocks


def _texts(blocks: list[_Block]) -> tuple[list[str], list[int]]:
    """The non-empty texts of ``blocks`` in order, and how many each block holds."""
    texts: list[str] = []
    sizes: list[int] = []
    for _records, _names, values in blocks:
        present = list(filter(None, values))
        texts += present
        sizes.append(len(present))
    return texts, sizes


def _owner(blocks: list[_Block], sizes: list[int], index: int) -> tuple[Record, str]:
    """The record and field of the ``index``-th non-empty text of ``blocks``."""
    for (records, names, values), size in zip(blocks, sizes, strict=True):
        if index >= size:
            index -= size
            continue
        at = list(compress(count(), values))[index]  # its place among all values
        return records[at // len(names)], names[at % len(names)]
    raise IndexError(index)


def scrub_records(records: Sequence[Record]) -> int:
    """Redact every free-text field of ``records`` in place; the number of replacements.

    ``collector.privacy.gate`` picks, in one pass over all of the chunk's texts, the few that
    may hold a secret; only those go through ``redact``.
    """
    blocks = _blocks(records)
    texts, sizes = _texts(blocks)
    if not texts:
        return 0
    total = 0
    for index in suspects(texts):  # the usual chunk has none
        clean, count = redact(texts[index])
        if count:
            record, name = _owner(blocks, sizes, index)
            setattr(record, name, clean)
            total += count
    return total
