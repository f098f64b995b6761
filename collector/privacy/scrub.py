"""Redaction applied to parser output: every free-text field of every record, in one place.

Which fields: every ``str`` field of a record type except the identifiers and vocabularies
listed in ``_NOT_TEXT`` (keys, timestamps, categories) — so a text field added to a record
later is redacted without anyone remembering to list it here.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, chain
from operator import attrgetter
from typing import Any

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

from collector.privacy.redact import TRIGGERS, redact
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


# One pass of a compiled Aho-Corasick automaton (Rust, ahocorasick-rs) over all of a chunk's
# text finds the few texts worth a closer look; per text, 27 substring searches and a lower()
# cost ~6 µs, half the parse of a line (bench/bench_parse.py).
_MATCHER = BytesAhoCorasick(
    [trigger.encode() for trigger in TRIGGERS],
    matchkind=MatchKind.LeftmostFirst,
    implementation=Implementation.DFA,
)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All of a record's text fields in one C call (attrgetter), always as a tuple."""
    if not names:
        return lambda _record: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda record: (one(record),)
    return attrgetter(*names)


_GETTERS = {cls: _getter(names) for cls, names in _FIELDS.items()}


def scrub_records(records: Sequence[Record]) -> int:
    """Redact every free-text field of ``records`` in place; the number of replacements."""
    fields = [_GETTERS[type(record)](record) for record in records]
    flat = list(chain.from_iterable(fields))
    if not flat:
        return 0
    # Bytes: matching UTF-8 in Rust without mapping back to character positions is twice as
    # fast as matching the str. Each text is encoded on its own (None → b""): joining the str
    # first widens the whole chunk to its widest character (one emoji makes it UCS-4) and then
    # encodes all of that, which cost three times as much (bench/bench_parse.py).
    joined = b"\x00".join([value.encode() if value else b"" for value in flat])
    hits = _MATCHER.find_matches_as_indexes(joined)
    if not hits:
        return 0  # the usual chunk: one pass in Rust, nothing to do
    suspects: list[int] = []
    index = at = 0
    for start in sorted({start for _, start, _ in hits}):
        index += joined.count(b"\x00", at, start)  # separators before it: its text's index
        at = start
        if not suspects or suspects[-1] != index:
            suspects.append(index)
    ends = list(accumulate(map(len, fields)))
    total = 0
    for index in suspects:
        value = flat[index]
        if not value:
            continue
        clean, count = redact(value)
        if count:
            which = bisect_right(ends, index)
            record = records[which]
            name = _FIELDS[type(record)][index - (ends[which - 1] if which else 0)]
            setattr(record, name, clean)
            total += count
    return total
