"""The normalized records a parser returns and the writer stores.

A parser turns one transcript line into a list of these. They are plain values with no
behaviour: the store decides how each lands in SQLite, so the same record can be written twice
(after a restart, a re-read from byte 0) without adding a row. Treat them as immutable once
handed on (before that, a parser may complete its own record, and redaction rewrites text
fields in place).

They are ``msgspec.Struct``s, not dataclasses, because the parsers build one or more per
transcript line: a Struct is built in C (an Event ~0.11-0.15 µs against ~0.3-0.4 µs for a
slotted dataclass, ~0.5 µs by keywords) and, holding only strings, numbers and None, is left
out of the cyclic garbage collector, which then has fewer objects to walk while the reader and
the writer hold a batch. They keep what the code base relies on: construction by keywords and
by position in field order, ``__match_args__`` (the fields in order), attribute assignment,
equality and hashing by value. Use ``msgspec.structs`` (``fields``, ``replace``, ``asdict``,
``astuple``: all fields as a tuple in C, ~0.1 µs against ~0.4 µs for an ``attrgetter`` of 26)
where ``dataclasses`` would have been used. On hot paths test a record's type with
``type(r) is Event``: ``isinstance`` against a Struct type that does not match goes through
msgspec's metaclass (~70 ns against ~30 ns).

- Session activity needs no record: the store moves ``sessions.last_activity`` (and
  ``spawned_at`` when unset) from the timestamps of the events it inserts.

- ``SessionInfo``: facts about the session the file belongs to, emitted when a fact is learnt
  (not per line). Upserted: a non-None field overwrites, a None field keeps what is stored;
  ``first_seen`` keeps the minimum and ``last_activity`` the maximum.
- ``Event``: one row of ``events``, unique by ``(session_id, agent_event_id)``. Re-inserting is a
  no-op, except that token counts merge by maximum per field (Claude repeats one message's usage
  on several lines with growing ``output_tokens``; the maximum, never the sum, is the truth).
- ``ToolResult``: completes the tool-call row(s) with ``(session_id, tool_call_id)`` in place:
  status pending → success | error, ``duration_ms`` (the agent's own figure, else result time −
  call time computed in SQL), ``exit_code``. Expressed as an update keyed by the call id — not
  in-memory pairing — so it works when the result arrives in a later batch, a later read or
  after a restart. A result whose call row is not stored yet is kept and applied when it is.
- ``ParseProblem``: a line that could not be used (file, offset, reason, a short prefix).
- ``SessionStatus``: the session tracker's verdict (status, process identity, end time, and an
  orchestrator's registration fields). The store sets the session's columns and, when the
  status changed, records a ``status_change`` event with the old and new status and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

__all__ = [
    "EVENT_TYPES",
    "OPERATIONS",
    "RECORD_TYPES",
    "Chunk",
    "ChunkSink",
    "Event",
    "FileUpdate",
    "ParseProblem",
    "Record",
    "SessionInfo",
    "SessionStatus",
    "ToolResult",
    "ToolWait",
]

# event_type values. file_op/command/tool_call are tool calls (one row each, completed in place).
EVENT_TYPES = (
    "file_op",  # a file tool: operation read | write | edit | delete | search
    "command",  # a shell tool: command, command_category
    "tool_call",  # any other tool
    "message",  # a user or assistant message (tool_arguments holds {"role","chars"}; no text)
    "usage",  # token usage of one model response (deduplicated by the agent's message id)
    "error",  # an API error, agent error, aborted turn
    "compaction",  # context compaction / summary boundary
    "session_start",
    "session_end",
    "turn",  # a completed turn with its duration, where the agent records one
    "status_change",  # written by the session tracker
    "other",
)

OPERATIONS = ("read", "write", "edit", "delete", "search")


class _Record(msgspec.Struct, gc=False):
    """What every record type shares: never tracked by the cyclic garbage collector (a record
    holds no container, so it can never be part of a reference cycle), and hashable by value
    as the dataclasses were (``unsafe_hash``)."""

    def __hash__(self) -> int:
        return hash(msgspec.structs.astuple(self))


class SessionInfo(_Record):
    """Facts about one session (one transcript file)."""

    session_id: str  # our key, from collector.parsers.sources.session_id_for(path)
    agent: str
    transcript_path: str
    agent_session_id: str | None = None
    project_dir: str | None = None
    git_branch: str | None = None
    model: str | None = None
    agent_version: str | None = None
    first_seen: str | None = None  # earliest timestamp seen (contract form)
    last_activity: str | None = None  # latest timestamp seen
    parent_session_id: str | None = None  # subagent / sidechain / fork parent (our key)
    parent_tool_call_id: str | None = None  # the tool call that spawned this session
    title: str | None = None  # subagent description, first prompt summary, …
    # The title is only the first prompt's first line: it never replaces a stored title (the
    # agent's own, or a subagent's task description), which always replaces it.
    title_fallback: bool = False


class Event(_Record):
    """One normalized event row."""

    session_id: str
    agent_event_id: str  # natural key within the session; stable across re-reads
    timestamp: str  # contract form, see store.timestamps
    event_type: str
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_arguments: str | None = None  # JSON text, capped
    file_path: str | None = None  # absolute
    operation: str | None = None
    command: str | None = None
    command_category: str | None = None
    status: str | None = None  # pending | success | error for tool calls
    duration_ms: int | None = None
    exit_code: int | None = None
    parent_event_id: str | None = None  # agent_event_id of the parent (same session)
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    raw_data: str | None = None  # capped original JSON, for debugging
    source_offset: int | None = None  # byte offset of the line in the transcript
    reasoning_tokens: int | None = None  # Codex: part of output_tokens; Gemini: beside it
    cache_creation_1h_tokens: int | None = None  # the 1-hour part of cache_creation_tokens
    wait_ms: int | None = None  # time a tool call waited for permission
    preview: str | None = None  # a message's first characters, redacted


class ToolResult(_Record):
    """Completion of the tool call ``tool_call_id`` in ``session_id``."""

    session_id: str
    tool_call_id: str
    timestamp: str  # when the result was recorded
    status: str  # success | error
    duration_ms: int | None = None  # the agent's own figure; None → computed from timestamps
    exit_code: int | None = None


class ParseProblem(_Record):
    """A line that could not be turned into records."""

    source_path: str
    offset: int
    reason: str
    prefix: str  # first bytes of the line, escaped, at most ~120 chars


class SessionStatus(_Record):
    """The tracker's verdict on one session at ``timestamp``."""

    session_id: str  # our session key
    status: str  # running | idle | waiting | completed | crashed | stopped | unknown
    timestamp: str
    reason: str
    pid: int | None = None
    pid_started_at: str | None = None
    ended_at: str | None = None  # set on the terminal statuses
    tmux_target: str | None = None  # session:window.pane
    # An orchestrator's registration (``agent-viz-monitor register``); None keeps what is stored.
    spawned_by: str | None = None
    task_file: str | None = None
    importance: str | None = None
    project_dir: str | None = None  # only fills an empty project_dir


class ToolWait(_Record):
    """The tracker saw a session wait ``wait_ms`` for the user from ``since``: the permission
    prompt of its newest tool call begun by then, whose ``duration_ms`` then leaves it out."""

    session_id: str  # our session key
    since: str  # when the wait began (contract form)
    wait_ms: int


Record = SessionInfo | Event | ToolResult | ParseProblem | SessionStatus | ToolWait
# Every record type, numbered by its place here (collector.ingest.parse_jobs sends the number).
RECORD_TYPES: tuple[type[Record], ...] = (
    Event, SessionInfo, ToolResult, ParseProblem, ToolWait, SessionStatus,
)  # fmt: skip


class FileUpdate(msgspec.Struct, frozen=True):
    """A file's tailing state to commit with its records (``files`` row)."""

    path: str
    agent: str
    session_key: str | None
    checkpoint: dict[str, Any]  # collector.ingest.tail.Checkpoint.to_dict()
    parser_state: dict[str, Any] | None
    size: int
    lines: int = 0
    problems: int = 0
    oversized: int = 0
    reset: bool = False
    deleted: bool = False


class Chunk(msgspec.Struct):
    """What one read of one file produced: records to store with that file's new checkpoint,
    in one transaction. ``on_commit`` runs on the writer's thread after the commit."""

    records: list[Record]
    file: FileUpdate | None = None
    nbytes: int = 0
    on_commit: Callable[[], None] | None = None
    live: bool = True  # False for backlog chunks (see collector.ingest.lanes)


class ChunkSink(Protocol):
    """Where the readers and the session tracker hand chunks: the writer thread's queue."""

    def put(self, chunk: Chunk, timeout: float | None = None) -> None:
        """Queue a chunk; blocks while full and raises ``queue.Full`` after ``timeout``."""
