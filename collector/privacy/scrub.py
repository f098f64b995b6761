"""Redaction applied to parser output: every free-text field of every record, in one place.

Which fields: every ``str`` field of a record type except the identifiers and vocabularies
listed in ``_NOT_TEXT`` (keys, timestamps, categories) — so a text field added to a record
later is redacted without anyone remembering to list it here.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Iterable

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind

from collector.privacy.redact import TRIGGERS, redact
from collector.records import Event, ParseProblem, Record, SessionInfo, SessionStatus, ToolResult

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


# One pass of a compiled Aho-Corasick automaton (Rust, ahocorasick-rs) over all of a chunk's
# text finds the few texts worth a closer look; per text, 27 substring searches and a lower()
# cost ~6 µs, half the parse of a line (bench/bench_parse.py).
_MATCHER = AhoCorasick(
    list(TRIGGERS), matchkind=MatchKind.LeftmostFirst, implementation=Implementation.DFA
)


def scrub_records(records: Iterable[Record]) -> int:
    """Redact every free-text field of ``records`` in place; the number of replacements."""
    slots = [(record, name) for record in records for name in _FIELDS[type(record)]]
    values = [getattr(record, name) or "" for record, name in slots]
    if not values:
        return 0
    hits = _MATCHER.find_matches_as_indexes("\x00".join(values))
    if not hits:
        return 0
    starts, at = [], 0
    for value in values:
        starts.append(at)
        at += len(value) + 1
    total = 0
    for index in sorted({bisect_right(starts, start) - 1 for _, start, _ in hits}):
        clean, count = redact(values[index])
        if count:
            record, name = slots[index]
            setattr(record, name, clean)
            total += count
    return total
