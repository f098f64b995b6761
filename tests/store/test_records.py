"""The record types' contract: what the parsers, redaction, the writer and the parse process
rely on, whatever the types are built with (msgspec Structs since branch parse6)."""

from __future__ import annotations

import gc
import pickle
from operator import attrgetter
from typing import Any

import msgspec
import pytest

from store.records import Event, ParseProblem, SessionInfo, SessionStatus, ToolResult, ToolWait

SAMPLES: list[Any] = [
    Event(
        "claude-code:s", "usage:msg_1:req_1", "2026-01-14T19:20:13.501Z", "usage",
        model="claude-x", input_tokens=3, output_tokens=5, cache_read_tokens=7,
        cache_creation_tokens=11, source_offset=42, cache_creation_1h_tokens=0,
    ),
    Event("s", "toolu_1", "2026-01-14T19:20:13.501Z", "command", "Bash", "toolu_1", '{"a":1}',
          None, None, "ls", "filesystem", "pending", source_offset=0, preview="é"),
    SessionInfo("s", "claude-code", "/p/s.jsonl", title="t", title_fallback=True),
    ToolResult("s", "toolu_1", "2026-01-14T19:20:14.000Z", "error", None, 2),
    ParseProblem("/p/s.jsonl", 7, "invalid JSON", "{x"),
    SessionStatus("s", "running", "2026-01-14T19:20:14.000Z", "process alive", pid=12),
    ToolWait("s", "2026-01-14T19:20:14.000Z", 1500),
]  # fmt: skip
IDS = [type(r).__name__ for r in SAMPLES]


@pytest.mark.parametrize("record", SAMPLES, ids=IDS)
def test_rebuilt_positionally_from_match_args(record: Any) -> None:
    """``attrgetter(*cls.__match_args__)`` and ``cls(*values)`` round-trip (the parse
    process's encoding), and ``__match_args__`` lists every field in order."""
    cls = type(record)
    assert cls.__match_args__ == tuple(f.name for f in msgspec.structs.fields(cls))
    values = attrgetter(*cls.__match_args__)(record)
    assert values == msgspec.structs.astuple(record)
    again = cls(*values)
    assert again == record
    assert hash(again) == hash(record)
    assert cls(**dict(zip(cls.__match_args__, values, strict=True))) == record
    assert pickle.loads(pickle.dumps(record)) == record


@pytest.mark.parametrize("record", SAMPLES, ids=IDS)
def test_plain_values_outside_the_cyclic_collector(record: Any) -> None:
    """A record holds no container, so it is never tracked (nor walked) by the collector."""
    assert not gc.is_tracked(record)
    assert all(
        isinstance(v, str | int | bool | type(None)) for v in msgspec.structs.astuple(record)
    )


def test_fields_are_assignable_and_compared_by_value() -> None:
    """Redaction rewrites text fields in place; equality and hashing follow the values."""
    event = msgspec.structs.replace(SAMPLES[1])
    assert event == SAMPLES[1]
    assert event is not SAMPLES[1]
    event.command = "[REDACTED]"
    assert event != SAMPLES[1]
    assert hash(event) != hash(SAMPLES[1])
    assert event != ToolResult("s", "toolu_1", "t", "success")
    assert len({SAMPLES[0], msgspec.structs.replace(SAMPLES[0])}) == 1


def test_unknown_or_missing_fields_are_refused() -> None:
    with pytest.raises(TypeError):
        Event("s", "k", "t")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Event("s", "k", "t", "usage", colour="red")  # type: ignore[call-arg]
