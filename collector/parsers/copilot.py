"""GitHub Copilot CLI transcripts → records (transcript-formats.md §3, quirks 21–24).

Files: ``session-state/<uuid>/events.jsonl`` and the older flat ``session-state/<uuid>.jsonl``, one
event per line ``{type, data, id, timestamp, parentId, agentId?}``; a resumed session appends new
segments (``session.start``/``session.resume`` … ``session.shutdown``) to the same file, which
stays one session. The legacy ``history-session-state`` timeline (entries ``user``, ``copilot``,
``tool_call_requested``, ``tool_call_completed``, ``info``) is read one entry per line, or as a
whole document ``{timeline: [...]}`` through ``parse_document``.

What each record type becomes:

- ``session.start`` / ``session.resume``: ``SessionInfo`` (agent session id, cwd, branch, model,
  version) and a ``session_start`` event (``{"resume": bool}``); ``session.model_change``:
  ``SessionInfo.model``.
- ``tool.execution_start``: one tool-call row, status pending (``file_op`` for view/create/edit/
  str_replace(_editor)/glob/grep, ``command`` for bash/powershell/shell, else ``tool_call``);
  ``tool.execution_complete``: a ``ToolResult`` (success flag, ``toolTelemetry`` duration and the
  ``<exited with exit code N>`` marker where present). Legacy ``tool_call_requested`` /
  ``tool_call_completed`` share the row key ``tool:<callId>`` so both land in one row.
- ``user.message`` / ``assistant.message`` (legacy ``user`` / ``copilot``): ``message`` with
  ``{"role", "chars"}`` and a bounded ``preview`` of the text (``collector.parsers.text``); the
  first real prompt's first line is the session's fallback title.
- ``session.error`` / ``abort``: ``error``; ``session.compaction_complete`` and
  ``session.truncation``: ``compaction``; ``session.shutdown``: ``session_end`` plus usage, and
  a ``SessionStatus`` ``completed`` with ``ended_at``: a transcript that says the session ended
  is a finished session whether or not the tracker ever saw its process (a later resume is the
  tracker's to revive).
- Everything else (hooks, system prompt, turns, subagent bookkeeping, info) is not stored.

Keys (``agent_event_id``): the event's ``id``, or ``offset:<byte offset>`` when it has none.
Derived rows carry a prefix: ``usage:<id>`` and ``usage:<id>:<model>``; they name the row they
come from as ``parent_event_id``, other rows the agent's ``parentId``.

Tokens (quirk 21): per-call usage is ephemeral and never on disk. Each ``assistant.message``
with ``outputTokens`` > 0 yields a usage row with those output tokens. ``session.shutdown``
reports per-model totals for its segment; its usage rows carry the input and cache figures and
only the *residual* output (total − output already counted from that segment's messages), so
summing output over all usage rows never counts a token twice, with or without a shutdown.
Input is stored uncached (``tokenDetails.input`` per model where present, else
``inputTokens − cacheRead − cacheWrite``: Copilot's ``inputTokens`` includes both, e.g.
8 + 54064 + 27594 = 81666 in the qiaolei81 fixture), the meaning Claude's ``input_tokens`` has.

Split events (quirk 22): literal newlines inside ``result.content`` split one event over several
lines. A line that fails to parse but starts with ``{`` is held as a pending fragment (at most
1 MiB and 64 lines) and retried joined with each following line (decoded leniently, raw control
characters allowed inside strings). A join that parses is one event at the fragment's offset,
with no problem. When a later line parses on its own, or the bounds are exceeded, the fragment is
reported as one ``ParseProblem`` at its offset. A fragment still pending at the end of the file
waits for the next append (it is reported only when a line follows).

The optional ``sidecar`` dict may give ``cwd`` (e.g. from ``workspace.yaml``), used until a
``session.start`` names one.

``state()``: ``cwd`` (to resolve relative paths), ``model`` (attributes output tokens of
messages without one), ``first_ts``/``last_ts`` (the session's time range: a ``SessionInfo`` is
emitted only when a line widens it, and ``last_ts`` stands in for a missing or unreadable event
timestamp; with neither the line is a ``missing timestamp`` problem), ``segment_output``
(output tokens counted per model since the segment began, for the shutdown residual) and
``pending`` (the held fragment: offset, line count, base64 bytes; bounded as above).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from collector.parsers.base import ParserBase, see_time
from collector.parsers.categories import categorize_command
from collector.parsers.decode import clean_tree, decode_line, resolve_path
from collector.parsers.sanitize import cap_json, clean_text, line_prefix
from collector.parsers.text import content_text, preview
from collector.parsers.values import MAX_INT
from collector.parsers.values import chars as _chars
from collector.parsers.values import count as _count
from collector.parsers.values import mapping as _mapping
from collector.parsers.values import text as _text
from collector.parsers.values import timestamp as _timestamp
from store.records import Event, ParseProblem, Record, SessionStatus, ToolResult

__all__ = ["CopilotParser"]

_MAX_FRAGMENT_BYTES = 1 << 20
_MAX_FRAGMENT_LINES = 64
_SHELLS = frozenset({"bash", "powershell", "shell"})
_FILE_OPS = {
    "view": "read",
    "create": "write",
    "edit": "edit",
    "str_replace": "edit",
    "glob": "search",
    "grep": "search",
}
_EDITOR_OPS = {
    "view": "read",
    "create": "write",
    "str_replace": "edit",
    "insert": "edit",
    "undo_edit": "edit",
}
_EXIT_MARK = re.compile(r"<exited with exit code (-?\d{1,9})>")


class _Line(msgspec.Struct, frozen=True):
    """What every event of one transcript line shares."""

    key: str
    ts: str
    offset: int
    parent: str | None


class _Fragment(msgspec.Struct, frozen=True):
    """Start of an event split over lines by a literal newline (quirk 22)."""

    offset: int
    data: bytes
    lines: int


_Handler = Callable[[dict[str, Any], _Line], list[Record]]


class CopilotParser(ParserBase):
    """Parser for one Copilot CLI transcript file."""

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        self._cwd = _text(saved.get("cwd")) or _text(sidecar.get("cwd"))
        self._model = _text(saved.get("model"))
        self._first_ts = _timestamp(saved.get("first_ts"))
        self._last_ts = _timestamp(saved.get("last_ts"))
        self._segment_output = _counts(saved.get("segment_output"))
        self._pending = _restore_fragment(saved.get("pending"))
        self._titled = saved.get("titled") is True
        self._events: dict[str, _Handler] = {
            "session.start": self._on_start,
            "session.resume": self._on_resume,
            "session.model_change": self._on_model_change,
            "session.shutdown": self._on_shutdown,
            "session.error": self._on_error,
            "abort": self._on_abort,
            "session.compaction_complete": self._on_compaction,
            "session.truncation": self._on_truncation,
            "user.message": self._on_user_message,
            "assistant.message": self._on_assistant_message,
            "tool.execution_start": self._on_tool_start,
            "tool.execution_complete": self._on_tool_complete,
        }
        self._legacy: dict[str, _Handler] = {
            "user": self._on_legacy_message,
            "copilot": self._on_legacy_message,
            "tool_call_requested": self._on_legacy_tool,
            "tool_call_completed": self._on_legacy_tool,
        }

    # -- the protocol --------------------------------------------------------------------------

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        """Records for one line; a failed line may be held and joined with the next (quirk 22)."""
        try:
            return self._parse_line(line, offset)
        except Exception as exc:  # a bad line must never stop the file; tests assert none occur
            self._pending = None
            return self._failed(line, offset, exc)

    def parse_document(self, data: bytes) -> list[Record]:
        """Records for a legacy ``history-session-state`` document; [] for anything else."""
        try:
            return self._parse_document(data)
        except Exception as exc:  # as in parse_line
            return self._failed(data, 0, exc)

    def state(self) -> dict[str, Any]:
        """Small, JSON-able state; the pending fragment is bounded to 1 MiB."""
        pending = None
        if self._pending is not None:
            pending = {
                "offset": self._pending.offset,
                "lines": self._pending.lines,
                "data": base64.b64encode(self._pending.data).decode("ascii"),
            }
        return {
            "cwd": self._cwd,
            "model": self._model,
            "first_ts": self._first_ts,
            "last_ts": self._last_ts,
            "segment_output": dict(self._segment_output),
            "pending": pending,
            "titled": self._titled,
        }

    # -- framing -------------------------------------------------------------------------------

    def _parse_line(self, line: bytes, offset: int) -> list[Record]:
        if self._pending is not None:
            return self._continue_fragment(self._pending, line, offset)
        value = self._decode(line, offset)
        if isinstance(value, dict):
            return self._dispatch(value, offset, line)
        if _may_start_fragment(line):
            self._pending = _Fragment(offset, bytes(line), 1)
            return []
        return [value]

    def _parse_document(self, data: bytes) -> list[Record]:
        value = self._decode(data, 0)
        if isinstance(value, ParseProblem):
            return [value]
        timeline = value.get("timeline")
        if not isinstance(timeline, list):
            return []
        records: list[Record] = []
        for entry in timeline:
            if isinstance(entry, dict):
                records.extend(self._dispatch(entry, 0, b""))
        return records

    def _decode(self, line: bytes, offset: int) -> dict[str, Any] | ParseProblem:
        value = decode_line(line, offset, self._source.path)
        if isinstance(value, ParseProblem) and value.reason == "invalid JSON":
            lenient = _lenient_object(line)  # raw control characters inside strings
            return value if lenient is None else lenient
        return value

    def _continue_fragment(self, frag: _Fragment, line: bytes, offset: int) -> list[Record]:
        """Join the held fragment with ``line``; resolve it as an event or as a problem."""
        joined = frag.data + b"\n" + line
        value = _lenient_object(joined)
        if value is not None:
            self._pending = None
            return self._dispatch(value, frag.offset, joined)
        alone = self._decode(line, offset)
        if isinstance(alone, dict):
            self._pending = None
            return [self._stale(frag), *self._dispatch(alone, offset, line)]
        if len(joined) <= _MAX_FRAGMENT_BYTES and frag.lines < _MAX_FRAGMENT_LINES:
            self._pending = _Fragment(frag.offset, joined, frag.lines + 1)
            return []
        if _may_start_fragment(line):
            self._pending = _Fragment(offset, bytes(line), 1)
            return [self._stale(frag)]
        self._pending = None
        return [self._stale(frag), alone]

    def _stale(self, frag: _Fragment) -> ParseProblem:
        reason = f"invalid JSON (unrecovered fragment of {frag.lines} line(s))"
        return ParseProblem(self._source.path, frag.offset, reason, line_prefix(frag.data))

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, obj: dict[str, Any], offset: int, raw: bytes) -> list[Record]:
        kind = obj.get("type")
        if not isinstance(kind, str):
            return []
        own_ts = _timestamp(obj.get("timestamp"))
        records: list[Record] = self._touch(own_ts)
        handler = self._events.get(kind)
        body = _mapping(obj.get("data"))
        if handler is None:
            handler, body = self._legacy.get(kind), obj
        if handler is None:
            return records
        ts = own_ts or self._last_ts
        if ts is None:
            problem = ParseProblem(self._source.path, offset, "missing timestamp", line_prefix(raw))
            return [problem]
        key = _text(obj.get("id")) or f"offset:{offset}"
        records.extend(handler(body, _Line(key, ts, offset, _text(obj.get("parentId")))))
        return records

    def _touch(self, ts: str | None) -> list[Record]:
        """A ``SessionInfo`` when ``ts`` is earlier than any seen (the session's start)."""
        if ts is None:
            return []
        fields: dict[str, str] = {}
        self._first_ts, self._last_ts = see_time(ts, self._first_ts, self._last_ts, fields)
        return [self._session(**fields)] if fields else []

    def _event(self, line: _Line, event_type: str, **fields: Any) -> Event:
        """A row of ``line``: its key and the agent's ``parentId`` unless ``fields`` name others."""
        fields.setdefault("agent_event_id", line.key)
        fields.setdefault("parent_event_id", line.parent)
        return Event(
            session_id=self._source.session_id,
            timestamp=line.ts,
            event_type=event_type,
            source_offset=line.offset,
            **fields,
        )

    def _json(self, value: Any) -> str:
        try:
            return cap_json(value, self._options.args_cap)
        except RecursionError:
            return "…"

    # -- session lifecycle ---------------------------------------------------------------------

    def _on_start(self, data: dict[str, Any], line: _Line) -> list[Record]:
        return self._segment(data, line, resume=False)

    def _on_resume(self, data: dict[str, Any], line: _Line) -> list[Record]:
        return self._segment(data, line, resume=True)

    def _segment(self, data: dict[str, Any], line: _Line, resume: bool) -> list[Record]:
        """A new segment: remember cwd/model and restart the per-segment output count.

        A resume may run in another directory; the project stays the one the session began in.
        """
        context = _mapping(data.get("context"))
        cwd = _text(context.get("cwd"))
        model = _text(data.get("selectedModel"))
        project = cwd if not (resume and self._cwd) else None
        self._cwd = cwd or self._cwd
        self._model = model or self._model
        self._segment_output = {}
        records = self._touch(_timestamp(data.get("resumeTime" if resume else "startTime")))
        facts = {
            "agent_session_id": _text(data.get("sessionId")),
            "project_dir": project,
            "git_branch": _text(context.get("branch")),
            "model": model,
            "agent_version": _text(data.get("copilotVersion")),
        }
        if any(facts.values()):
            records.append(self._session(**facts))
        marker = self._json({"resume": resume})
        records.append(self._event(line, "session_start", tool_arguments=marker))
        return records

    def _on_model_change(self, data: dict[str, Any], line: _Line) -> list[Record]:
        model = _text(data.get("newModel"))
        if model is None:
            return []
        self._model = model
        return [self._session(model=model)]

    def _on_shutdown(self, data: dict[str, Any], line: _Line) -> list[Record]:
        summary = {"shutdownType": data.get("shutdownType")}
        records: list[Record] = [
            self._event(line, "session_end", tool_arguments=self._json(summary)),
            *self._shutdown_usage(data, line),
        ]
        current = _text(data.get("currentModel"))
        if current:
            records.append(self._session(model=current))
        self._segment_output = {}
        kind = _text(data.get("shutdownType")) or "routine"
        records.append(SessionStatus(self._source.session_id, "completed", line.ts,
                                     f"transcript: session.shutdown ({kind})",
                                     ended_at=line.ts))  # fmt: skip
        return records

    def _shutdown_usage(self, data: dict[str, Any], line: _Line) -> list[Record]:
        """Per-model totals of the segment minus output already counted from its messages."""
        records: list[Record] = []
        reported = False
        for model, metrics in _mapping(data.get("modelMetrics")).items():
            usage = _mapping(_mapping(metrics).get("usage"))
            if usage:
                reported = True
                details = _mapping(_mapping(metrics).get("tokenDetails"))
                records.extend(self._usage_row(line, clean_text(model), usage, details))
        if not reported:  # older shutdowns: one session-wide tokenDetails block
            details = _mapping(data.get("tokenDetails"))
            model = _text(data.get("currentModel")) or self._model or ""
            records.extend(self._usage_row(line, model, _details_as_usage(details), details))
        return records

    def _usage_row(
        self, line: _Line, model: str, usage: dict[str, Any], details: dict[str, Any]
    ) -> list[Record]:
        total_in = _count(usage.get("inputTokens"))
        cache_read = _count(usage.get("cacheReadTokens"))
        cache_write = _count(usage.get("cacheWriteTokens"))
        fresh = _count(_mapping(details.get("input")).get("tokenCount"))
        if fresh is None and total_in is not None:
            rest = total_in - (cache_read or 0) - (cache_write or 0)
            fresh = rest if rest >= 0 else total_in
        output = _count(usage.get("outputTokens"))
        if output is not None:
            output = max(0, output - self._segment_output.get(model, 0))
        reasoning = _count(usage.get("reasoningTokens"))
        if not any((fresh, cache_read, cache_write, output, reasoning)):
            return []
        return [
            self._event(
                line,
                "usage",
                agent_event_id=f"usage:{line.key}:{model}",
                parent_event_id=line.key,
                model=model or None,
                input_tokens=fresh,
                output_tokens=output,
                cache_read_tokens=cache_read,
                cache_creation_tokens=cache_write,
                reasoning_tokens=reasoning or None,
            )
        ]

    # -- messages, errors, compaction ----------------------------------------------------------

    def _on_user_message(self, data: dict[str, Any], line: _Line) -> list[Record]:
        return self._prompt(line, data.get("content"))

    def _prompt(self, line: _Line, content: Any) -> list[Record]:
        """A user message, and the session's fallback title when it has none yet."""
        return [self._message(line, "user", content), *self._prompt_title(content)]

    def _on_assistant_message(self, data: dict[str, Any], line: _Line) -> list[Record]:
        model = _text(data.get("model")) or self._model
        records: list[Record] = [self._message(line, "assistant", data.get("content"), model)]
        output = _count(data.get("outputTokens"))
        if output:
            name = model or ""
            seen = self._segment_output.get(name, 0) + output
            self._segment_output[name] = min(seen, MAX_INT)
            key = f"usage:{line.key}"
            usage = self._event(
                line,
                "usage",
                agent_event_id=key,
                parent_event_id=line.key,
                model=model,
                output_tokens=output,
            )
            records.append(usage)
        return records

    def _message(self, line: _Line, role: str, content: Any, model: str | None = None) -> Event:
        sizes = {"role": role, "chars": _chars(content)}
        limit = self._options.preview_chars
        text = preview(content_text(content, limit), limit) if limit > 0 else None
        return self._event(line, "message", tool_arguments=self._json(sizes), model=model,
                           preview=text)  # fmt: skip

    def _on_error(self, data: dict[str, Any], line: _Line) -> list[Record]:
        fields = {k: data.get(k) for k in ("errorType", "statusCode", "message")}
        return [self._event(line, "error", tool_arguments=self._json(fields))]

    def _on_abort(self, data: dict[str, Any], line: _Line) -> list[Record]:
        fields = {"errorType": "abort", "message": data.get("reason")}
        return [self._event(line, "error", tool_arguments=self._json(fields))]

    def _on_compaction(self, data: dict[str, Any], line: _Line) -> list[Record]:
        names = ("trigger", "success", "preCompactionTokens", "postCompactionTokens")
        fields = {"kind": "compaction", **{k: data.get(k) for k in names}}
        return [self._event(line, "compaction", tool_arguments=self._json(fields))]

    def _on_truncation(self, data: dict[str, Any], line: _Line) -> list[Record]:
        names = ("tokensRemovedDuringTruncation", "messagesRemovedDuringTruncation")
        fields = {"kind": "truncation", **{k: data.get(k) for k in names}}
        return [self._event(line, "compaction", tool_arguments=self._json(fields))]

    # -- tools ---------------------------------------------------------------------------------

    def _on_tool_start(self, data: dict[str, Any], line: _Line) -> list[Record]:
        name = _text(data.get("toolName")) or "unknown"
        call_id = _text(data.get("toolCallId"))
        model = _text(data.get("model"))
        row = self._tool_call(
            line, line.key, name, call_id=call_id, raw_args=data.get("arguments"), model=model
        )
        return [row]

    def _on_tool_complete(self, data: dict[str, Any], line: _Line) -> list[Record]:
        call_id = _text(data.get("toolCallId"))
        if call_id is None:
            return []
        metrics = _mapping(_mapping(data.get("toolTelemetry")).get("metrics"))
        result = ToolResult(
            session_id=self._source.session_id,
            tool_call_id=call_id,
            timestamp=line.ts,
            status=_status(data.get("success"), data.get("error")),
            duration_ms=_count(metrics.get("durationMs")),
            exit_code=_exit_code(_mapping(data.get("result")).get("content")),
        )
        return [result]

    def _on_legacy_tool(self, obj: dict[str, Any], line: _Line) -> list[Record]:
        """Legacy entries: requested and completed share the row ``tool:<callId>``."""
        call_id = _text(obj.get("callId"))
        name = _text(obj.get("name")) or _text(obj.get("toolTitle")) or "unknown"
        key = f"tool:{call_id}" if call_id else line.key
        row = self._tool_call(line, key, name, call_id=call_id, raw_args=obj.get("arguments"))
        records: list[Record] = [row]
        if obj.get("type") == "tool_call_completed" and call_id:
            result = _mapping(obj.get("result"))
            ok = result.get("type") == "success" if "type" in result else None
            done = ToolResult(
                session_id=self._source.session_id,
                tool_call_id=call_id,
                timestamp=line.ts,
                status=_status(ok, None),
                exit_code=_exit_code(result.get("log")),
            )
            records.append(done)
        return records

    def _on_legacy_message(self, obj: dict[str, Any], line: _Line) -> list[Record]:
        if obj.get("type") == "user":
            return self._prompt(line, obj.get("text"))
        return [self._message(line, "assistant", obj.get("text"))]

    def _tool_call(
        self,
        line: _Line,
        key: str,
        name: str,
        *,
        call_id: str | None,
        raw_args: Any,
        model: str | None = None,
    ) -> Event:
        """One tool-call row, pending until its ``ToolResult`` arrives."""
        args = _arguments(raw_args)
        event_type, operation = _classify(name, args)
        path = command = category = None
        if event_type == "file_op":
            path = self._target(_text(args.get("path")) or _text(args.get("file_path")), operation)
        elif event_type == "command":
            command = _text(args.get("command"))
            category = categorize_command(command) if command is not None else None
        return self._event(
            line,
            event_type,
            agent_event_id=key,
            tool_name=name,
            tool_call_id=call_id,
            tool_arguments=self._json(args if args else raw_args),
            file_path=path,
            operation=operation,
            command=command,
            command_category=category,
            status="pending",
            model=model,
        )

    def _target(self, path: str | None, operation: str | None) -> str | None:
        """The absolute path a file tool works on; a search without one searches the cwd."""
        if path:
            return resolve_path(path, self._cwd)
        return self._cwd if operation == "search" else None


# -- pure helpers ------------------------------------------------------------------------------


def _classify(name: str, args: dict[str, Any]) -> tuple[str, str | None]:
    """``(event_type, operation)`` for a tool name and its arguments."""
    if name in _SHELLS:
        return "command", None
    if name == "str_replace_editor":
        operation = _EDITOR_OPS.get(_text(args.get("command")) or "")
    else:
        operation = _FILE_OPS.get(name)
    return ("file_op", operation) if operation else ("tool_call", None)


def _arguments(value: Any) -> dict[str, Any]:
    """Tool arguments as a dict; some versions write them as a JSON string."""
    if isinstance(value, str):
        try:
            value = clean_tree(orjson.loads(value))
        except (orjson.JSONDecodeError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


def _status(success: Any, error: Any) -> str:
    if isinstance(success, bool):
        return "success" if success else "error"
    return "error" if error else "success"


def _exit_code(content: Any) -> int | None:
    """The shell's ``<exited with exit code N>`` marker in a result text, if any."""
    if not isinstance(content, str):
        return None
    found = _EXIT_MARK.findall(content)
    return int(found[-1]) if found else None


def _details_as_usage(details: dict[str, Any]) -> dict[str, Any]:
    """Older shutdowns carry only top-level ``tokenDetails``; read them as a usage block."""
    names = {"cache_read": "cacheReadTokens", "cache_write": "cacheWriteTokens"}
    usage = {v: _mapping(details.get(k)).get("tokenCount") for k, v in names.items()}
    usage["outputTokens"] = _mapping(details.get("output")).get("tokenCount")
    return usage


def _may_start_fragment(line: bytes) -> bool:
    return line.startswith(b"{") and len(line) <= _MAX_FRAGMENT_BYTES


def _lenient_object(data: bytes) -> dict[str, Any] | None:
    """``data`` as a JSON object, allowing raw control characters inside strings."""
    try:
        value = json.loads(data.decode("utf-8"), strict=False)
        return clean_tree(value) if isinstance(value, dict) else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _restore_fragment(value: Any) -> _Fragment | None:
    saved = _mapping(value)
    offset, lines, data = _count(saved.get("offset")), _count(saved.get("lines")), saved.get("data")
    if offset is None or not lines or not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _Fragment(offset, raw, lines)


def _counts(value: Any) -> dict[str, int]:
    return {k: n for k, v in _mapping(value).items() if (n := _count(v)) is not None}
