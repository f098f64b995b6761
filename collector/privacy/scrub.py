"""Redaction applied to parser output: every free-text field of every record, in one place.

Which fields: every ``str`` field of a record type except the identifiers and vocabularies
listed in ``_NOT_TEXT`` (keys, timestamps, categories) — so a text field added to a record
later is redacted without anyone remembering to list it here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import chain
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


# One chunk's text fields, a column per (record type, field): the records, the field's name,
# each record's value (None or "" where there is no text).
_Column = tuple[list[Record], str, list[Any]]
_EVENT_FIELDS = tuple((name, attrgetter(name)) for name in _FIELDS[Event])


def _columns(records: Sequence[Record]) -> list[_Column]:
    """The text columns of ``records``. Events (most records) are picked out in one C-level
    comprehension and read with ``attrgetter`` over the list: a getter call per record cost
    more than the rest of the gate (bench/bench_parse.py)."""
    events: list[Record] = [record for record in records if type(record) is Event]
    columns = [(events, name, list(map(get, events))) for name, get in _EVENT_FIELDS]
    if len(events) == len(records):
        return columns
    groups: dict[type, list[Record]] = {}
    for record in [record for record in records if type(record) is not Event]:
        kind = type(record)
        if _FIELDS[kind]:  # KeyError: a record type without a rule
            groups.setdefault(kind, []).append(record)
    for kind, group in groups.items():
        columns += [(group, name, [getattr(r, name) for r in group]) for name in _FIELDS[kind]]
    return columns


def _owner(columns: list[_Column], index: int) -> tuple[Record, str]:
    """The record and field of the ``index``-th non-empty text of ``columns``."""
    for group, name, values in columns:
        size = len(values) - values.count(None) - values.count("")
        if index >= size:
            index -= size
            continue
        for record, value in zip(group, values, strict=True):
            if value:
                if not index:
                    return record, name
                index -= 1
    raise IndexError(index)


def scrub_records(records: Sequence[Record]) -> int:
    """Redact every free-text field of ``records`` in place; the number of replacements.

    ``collector.privacy.gate`` picks, in one pass over all of the chunk's texts, the few that
    may hold a secret; only those go through ``redact``.
    """
    columns = _columns(records)
    texts: list[str] = list(filter(None, chain.from_iterable(c[2] for c in columns)))
    if not texts:
        return 0
    total = 0
    for index in suspects(texts):  # the usual chunk has none
        clean, count = redact(texts[index])
        if count:
            record, name = _owner(columns, index)
            setattr(record, name, clean)
            total += count
    return total
