"""Redaction applied to parser output: every free-text field of every record, in one place.

Which fields: every ``str`` field of a record type except the identifiers and vocabularies
listed in ``_NOT_TEXT`` (keys, timestamps, categories) — so a text field added to a record
later is redacted without anyone remembering to list it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, islice
from operator import attrgetter

import msgspec

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


_TEXT_TYPES = (str, str | None)


def text_fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of record type ``cls`` that hold free text (and so may hold a secret)."""
    return tuple(
        f.name
        for f in msgspec.structs.fields(cls)
        if f.name not in _NOT_TEXT and f.type in _TEXT_TYPES
    )


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: text_fields(cls) for cls in (Event, SessionInfo, ParseProblem, SessionStatus, ToolResult)
}


# Where a chunk's texts came from, field by field: the records of one type, the field's name,
# and how many of the texts (in order) are that field's non-empty values.
_Field = tuple[list[Record], str, int]
_GETTERS = {
    cls: tuple((name, attrgetter(name)) for name in names) for cls, names in _FIELDS.items()
}


def _gather(records: Sequence[Record]) -> tuple[list[str], list[_Field]]:
    """The non-empty texts of ``records``, field by field, and where each came from.

    Events (most records) are read one field at a time by ``attrgetter`` and ``filter`` in
    C: a Python call or a tuple per record cost more than the rest of the gate, and one field
    at a time touches each record's memory least (bench/bench_parse.py).
    """
    events: list[Record] = []
    others: list[Record] = []
    add_event, add_other = events.append, others.append
    for record in records:
        (add_event if type(record) is Event else add_other)(record)
    groups: dict[type, list[Record]] = {Event: events}
    for record in others:
        if _GETTERS[type(record)]:  # KeyError: a record type without a rule
            groups.setdefault(type(record), []).append(record)
    texts: list[str] = []
    fields: list[_Field] = []
    for kind, group in groups.items():
        for name, get in _GETTERS[kind]:
            before = len(texts)
            texts += filter(None, map(get, group))
            fields.append((group, name, len(texts) - before))
    return texts, fields


def _owner(fields: list[_Field], index: int) -> tuple[Record, str]:
    """The record and field name of ``texts[index]`` (``_gather``)."""
    for group, name, size in fields:
        if index >= size:
            index -= size
            continue
        present = compress(group, map(attrgetter(name), group))  # records with a value there
        return next(islice(present, index, None)), name
    raise IndexError(index)


def scrub_records(records: Sequence[Record]) -> int:
    """Redact every free-text field of ``records`` in place; the number of replacements.

    ``collector.privacy.gate`` picks, in one pass over all of the chunk's texts, the few that
    may hold a secret; only those go through ``redact``.
    """
    texts, fields = _gather(records)
    if not texts:
        return 0
    total = 0
    for index in suspects(texts):  # the usual chunk has none
        clean, count = redact(texts[index])
        if count:
            record, name = _owner(fields, index)
            setattr(record, name, clean)
            total += count
    return total
