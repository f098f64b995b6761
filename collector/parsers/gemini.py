"""Gemini CLI transcripts → records (transcript-formats.md §4, quirks 25–26).

Two forms of ``~/.gemini/tmp/<project>/chats/session-*.json[l]``:

- ≥ 0.39 JSONL (``parse_line``): a metadata line ``{sessionId, projectHash, startTime, …}``,
  message records ``{id, timestamp, type, content, …}`` re-appended under the same ``id`` whenever
  the message changes, ``{"$set": {…}}`` patches and ``{"$rewindTo": "<id>"}``.
- ≤ 0.38 whole-file JSON (``parse_document``), rewritten on every update; every call returns
  the records of the whole file, made idempotent by natural keys. ``logs.json`` (a prompt log, a
  JSON array) yields nothing.

What each record becomes:

- metadata / ``$set``: ``SessionInfo`` (agent session id, start, ``lastUpdated``, ``summary`` as
  title); a ``$set.messages`` checkpoint is read as a re-append of each message it holds.
- ``user``: ``message`` ``{"role": "user", "chars"}`` — except ``<session_context>`` scaffolding,
  which is not a prompt, and a message of ``functionResponse`` parts only (the tool results
  handed back to the model, already in the calls' rows), which yield nothing; ``gemini`` (and
  ``model``): ``message`` with role assistant, a ``usage`` row from ``tokens``, and one row per
  ``toolCalls[]`` entry; ``error``: ``error``; ``info`` / ``warning``: nothing.
- tool calls: ``file_op`` (read_file/read_many_files → read, write_file → write, replace/edit →
  edit, glob/search_file_content/grep_search/list_directory → search, the directory listed or
  searched being the path), ``command`` for run_shell_command, else ``tool_call``.
- ``$rewindTo``: an ``other`` row ``{"rewind_to": id}`` (history that happened stays stored: the
  files were touched and the commands ran); tool calls still open at that moment can no longer
  finish, so each gets an error ``ToolResult``.

Last write wins although events are insert-or-ignore: a tool call's row is written pending the
first time its entry is seen (keyed ``tool:<call id>``, with the call's inputs, which do not
change); its status travels only as a ``ToolResult``, emitted each time a version of the message
shows the entry terminal (success → success; error, cancelled → error), and results are applied
in order, so the last written status wins. Non-terminal versions (scheduled, executing, …) add
nothing. Usage rows are keyed ``usage:<message id>`` and the store keeps the maximum of each
count, so a version that attaches tokens later still lands. A message row (``<message id>``)
keeps the sizes of the first version seen. Tool and usage rows name their message as
``parent_event_id``.

Timing: the file records one instant per tool call (≈ completion). The row's timestamp is the
previous call's instant in the same message (or the message's), and the result's is the call's
own, so the store's ``result − call`` is the estimate of §4.5. Shell exit codes come from
``Exit Code: N`` in the output or ``Command exited with code: N``; a successful call without
either exited 0.

Tokens: ``input_tokens`` is the uncached prompt (``input − cached + tool``), ``cache_read_tokens``
is ``cached``, ``output_tokens`` is ``output`` as Gemini reports it and ``reasoning_tokens`` is
``thoughts``, which Gemini counts beside its output (the ``usage_daily`` view adds them to
Gemini's total; Codex's reasoning, by contrast, is a part of its output).

Messages carry a bounded ``preview`` of their text (``collector.parsers.text``); without a
``summary`` the first real prompt's first line is the session's fallback title.

Keys: message rows ``<id>`` (``offset:<n>`` for a line without one), tool rows
``tool:<call id>`` (``tool:<message key>:<index>`` without one), usage ``usage:<message key>``,
rewinds ``rewind:<offset>``. A record with no timestamp, before any was seen, is a ``missing
timestamp`` problem.

The optional ``sidecar`` dict may give ``cwd`` or ``project_root`` (e.g. from the project's
``.project_root`` marker): Gemini records no working directory, and relative paths (seen in real
files) are resolved against it; without it they stay as the agent gave them.

``state()``: ``cwd`` (from the sidecar, to resolve relative paths; Gemini records none),
``model`` (last model announced; it also names the model of messages that carry none),
``first_ts`` / ``last_ts`` (the session's time range; a ``SessionInfo`` is emitted only when it
widens; ``last_ts`` also dates ``$rewindTo`` lines and records without a timestamp) and
``open_calls`` (at most 256 non-terminal tool calls, closed by a rewind).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from collector.parsers.base import ParserBase, see_time
from collector.parsers.categories import categorize_command
from collector.parsers.decode import clean_tree, decode_line, resolve_path
from collector.parsers.sanitize import cap_json, line_prefix
from collector.parsers.text import content_text, preview
from collector.parsers.values import MAX_INT
from collector.parsers.values import chars as _chars
from collector.parsers.values import count as _count
from collector.parsers.values import mapping as _mapping
from collector.parsers.values import text as _text
from collector.parsers.values import timestamp as _timestamp
from store.records import Event, ParseProblem, Record, ToolResult

__all__ = ["GeminiParser"]

_MAX_OPEN_CALLS = 256
_FILE_OPS = {
    "read_file": "read",
    "read_many_files": "read",
    "write_file": "write",
    "replace": "edit",
    "edit": "edit",
    "glob": "search",
    "search_file_content": "search",
    "grep_search": "search",
    "list_directory": "search",
}
_PATH_KEYS = ("file_path", "absolute_path", "path", "dir_path", "directory")
_SHELLS = frozenset({"run_shell_command"})
_TERMINAL = {"success": "success", "error": "error", "cancelled": "error", "canceled": "error"}
_EXIT_CODE = re.compile(r"(?:Exit Code|Command exited with code):\s*(-?\d{1,9})")
_CONTEXT_MARK = "<session_context>"


class _At(msgspec.Struct, frozen=True):
    """Where a message's rows come from: its key, time and byte offset (None in a document)."""

    key: str
    ts: str
    offset: int | None


_Handler = Callable[[dict[str, Any], _At], list[Record]]


class GeminiParser(ParserBase):
    """Parser for one Gemini CLI chat file, in either of its two forms."""

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        self._cwd = _text(saved.get("cwd")) or _text(sidecar.get("cwd"))
        self._cwd = self._cwd or _text(sidecar.get("project_root"))
        self._model = _text(saved.get("model"))
        self._first_ts = _timestamp(saved.get("first_ts"))
        self._last_ts = _timestamp(saved.get("last_ts"))
        calls = saved.get("open_calls")
        calls = calls if isinstance(calls, list) else []
        self._open_calls = [c for c in calls if isinstance(c, str)][-_MAX_OPEN_CALLS:]
        self._titled = saved.get("titled") is True
        self._messages: dict[str, _Handler] = {
            "user": self._on_user,
            "gemini": self._on_assistant,
            "model": self._on_assistant,
            "error": self._on_error,
        }

    # -- the protocol --------------------------------------------------------------------------

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        """Records for one line of the ≥ 0.39 JSONL form."""
        try:
            value = decode_line(line, offset, self._source.path)
            if isinstance(value, ParseProblem):
                return [value]
            return self._record(value, offset, line)
        except Exception as exc:  # a bad line must never stop the file; tests assert none occur
            return self._failed(line, offset, exc)

    def parse_document(self, data: bytes) -> list[Record]:
        """All records of a ≤ 0.38 whole-file session; [] for ``logs.json`` and other arrays."""
        try:
            return self._document(data)
        except Exception as exc:  # as in parse_line
            return self._failed(data, 0, exc)

    def state(self) -> dict[str, Any]:
        """Small, JSON-able state (``open_calls`` is bounded)."""
        return {
            "cwd": self._cwd,
            "model": self._model,
            "first_ts": self._first_ts,
            "last_ts": self._last_ts,
            "open_calls": list(self._open_calls),
            "titled": self._titled,
        }

    # -- record kinds --------------------------------------------------------------------------

    def _document(self, data: bytes) -> list[Record]:
        value = _load(data)
        if value is None:  # also a half-written rewrite: the next change re-reads the file
            reason = "invalid JSON document"
            return [ParseProblem(self._source.path, 0, reason, line_prefix(data))]
        if not isinstance(value, dict):
            return []
        return self._metadata(value) + self._whole_messages(value.get("messages"), None)

    def _record(self, obj: dict[str, Any], offset: int, raw: bytes) -> list[Record]:
        if "$rewindTo" in obj:
            return self._rewind(obj.get("$rewindTo"), offset)
        if "$set" in obj:
            return self._patch(obj.get("$set"), offset)
        if "type" in obj and "id" in obj:
            return self._message(obj, offset, raw)
        if "sessionId" in obj:
            return self._metadata(obj)
        return []

    def _metadata(self, obj: dict[str, Any]) -> list[Record]:
        records = self._touch(_timestamp(obj.get("startTime")))
        records += self._touch(_timestamp(obj.get("lastUpdated")), explicit=True)
        facts = {
            "agent_session_id": _text(obj.get("sessionId")),
            "title": _text(obj.get("summary")),
            "project_dir": self._cwd,
        }
        if any(facts.values()):
            records.append(self._session(**facts))
        return records

    def _patch(self, patch: Any, offset: int) -> list[Record]:
        """``$set``: metadata fields, or a ``messages`` checkpoint read as re-appends."""
        if not isinstance(patch, dict):
            return []
        return self._metadata(patch) + self._whole_messages(patch.get("messages"), offset)

    def _whole_messages(self, messages: Any, offset: int | None) -> list[Record]:
        """The records of a list of whole messages (a document's, or a checkpoint's)."""
        records: list[Record] = []
        for message in messages if isinstance(messages, list) else ():
            if isinstance(message, dict):
                records.extend(self._message(message, offset, b""))
        return records

    def _rewind(self, target: Any, offset: int) -> list[Record]:
        if self._last_ts is None:
            return []
        ts = self._last_ts
        records: list[Record] = [self._result(call, ts, "error") for call in self._open_calls]
        self._open_calls = []
        marker = self._json({"rewind_to": target})
        at = _At(f"rewind:{offset}", ts, offset)
        records.append(self._event(at, "other", tool_arguments=marker))
        return records

    # -- messages ------------------------------------------------------------------------------

    def _message(self, msg: dict[str, Any], offset: int | None, raw: bytes) -> list[Record]:
        own_ts = _timestamp(msg.get("timestamp"))
        records = self._touch(own_ts)
        kind = msg.get("type")
        handler = self._messages.get(kind) if isinstance(kind, str) else None
        key = _text(msg.get("id")) or (f"offset:{offset}" if offset is not None else None)
        if handler is None or key is None:
            return records
        ts = own_ts or self._last_ts
        if ts is None:
            where = offset if offset is not None else 0
            problem = ParseProblem(self._source.path, where, "missing timestamp", line_prefix(raw))
            return [problem]
        return records + handler(msg, _At(key, ts, offset))

    def _on_user(self, msg: dict[str, Any], at: _At) -> list[Record]:
        content = msg.get("content")
        if _first_text(content).lstrip().startswith(_CONTEXT_MARK):
            return []  # injected scaffolding, not a prompt
        if _function_responses(content):
            # The tool results handed back to the model, not something the user said; the same
            # message's toolCalls entries already completed the call rows with them.
            return []
        return [self._sizes(at, "user", content), *self._prompt_title(content)]

    def _on_assistant(self, msg: dict[str, Any], at: _At) -> list[Record]:
        model = _text(msg.get("model"))
        records: list[Record] = []
        if model and model != self._model:
            self._model = model
            records.append(self._session(model=model))
        model = model or self._model
        content = msg.get("content") if "content" in msg else msg.get("parts")
        records.append(self._sizes(at, "assistant", content, model))
        records += self._usage(_mapping(msg.get("tokens")), at, model)
        calls = msg.get("toolCalls")
        if isinstance(calls, list):
            records += self._tool_calls(calls, at)
        return records

    def _on_error(self, msg: dict[str, Any], at: _At) -> list[Record]:
        fields = {"errorType": msg.get("type"), "message": _first_text(msg.get("content"))}
        return [self._event(at, "error", tool_arguments=self._json(fields))]

    def _sizes(self, at: _At, role: str, content: Any, model: str | None = None) -> Event:
        sizes = self._json({"role": role, "chars": _chars(content)})
        limit = self._options.preview_chars
        text = preview(content_text(content, limit), limit) if limit > 0 else None
        return self._event(at, "message", tool_arguments=sizes, model=model, preview=text)

    def _usage(self, tokens: dict[str, Any], at: _At, model: str | None) -> list[Record]:
        counts = {
            name: _count(tokens.get(name))
            for name in ("input", "output", "cached", "thoughts", "tool")
        }
        if not any(counts.values()):
            return []
        cached = counts["cached"] or 0
        fresh = max(0, (counts["input"] or 0) - cached) + (counts["tool"] or 0)
        output = counts["output"] or 0
        usage = self._event(
            _At(f"usage:{at.key}", at.ts, at.offset),
            "usage",
            parent_event_id=at.key,
            model=model,
            input_tokens=min(fresh, MAX_INT),
            output_tokens=min(output, MAX_INT),
            cache_read_tokens=cached,
            reasoning_tokens=counts["thoughts"],
        )
        return [usage]

    # -- tool calls ----------------------------------------------------------------------------

    def _tool_calls(self, calls: list[Any], at: _At) -> list[Record]:
        """One pending row per entry, and a result for each entry that is terminal."""
        records: list[Record] = []
        start = at.ts
        for index, entry in enumerate(calls):
            call = _mapping(entry)
            call_id = _text(call.get("id")) or f"{at.key}:{index}"
            done_at = _timestamp(call.get("timestamp")) or start
            row_at = _At(f"tool:{call_id}", min(start, done_at), at.offset)
            records.append(self._tool_row(call, call_id, row_at, at.key))
            status = call.get("status")
            outcome = _TERMINAL.get(status) if isinstance(status, str) else None
            if outcome is None:
                self._remember_open(call_id)
            else:
                self._forget_open(call_id)
                code = _exit_code(call, outcome)
                outcome = "error" if code else outcome  # Gemini says success for exit 2 too
                records.append(self._result(call_id, done_at, outcome, code))
            start = max(start, done_at)
        return records

    def _tool_row(self, call: dict[str, Any], call_id: str, at: _At, message: str) -> Event:
        name = _text(call.get("name")) or "unknown"
        args = _mapping(call.get("args"))
        operation = _FILE_OPS.get(name)
        path = command = category = None
        if operation is not None:
            path = self._target(_path_argument(args), operation)
        elif name in _SHELLS:
            command = _text(args.get("command"))
            category = categorize_command(command) if command is not None else None
        event_type = "file_op" if operation else "command" if name in _SHELLS else "tool_call"
        return self._event(
            at,
            event_type,
            tool_name=name,
            tool_call_id=call_id,
            tool_arguments=self._json(call.get("args")),
            file_path=path,
            operation=operation,
            command=command,
            command_category=category,
            status="pending",
            parent_event_id=message,
        )

    def _target(self, path: str | None, operation: str) -> str | None:
        """The absolute path a file tool works on; a search without one searches the cwd."""
        if path:
            return resolve_path(path, self._cwd)
        return self._cwd if operation == "search" else None

    def _result(self, call_id: str, ts: str, status: str, code: int | None = None) -> ToolResult:
        return ToolResult(self._source.session_id, call_id, ts, status, exit_code=code)

    def _remember_open(self, call_id: str) -> None:
        if call_id not in self._open_calls:
            self._open_calls = [*self._open_calls, call_id][-_MAX_OPEN_CALLS:]

    def _forget_open(self, call_id: str) -> None:
        if call_id in self._open_calls:
            self._open_calls = [c for c in self._open_calls if c != call_id]

    # -- building blocks -----------------------------------------------------------------------

    def _touch(self, ts: str | None, explicit: bool = False) -> list[Record]:
        """A ``SessionInfo`` when ``ts`` is earlier than any seen (the session's start), or
        ``explicit``ly the latest (metadata ``lastUpdated``)."""
        if ts is None:
            return []
        fields: dict[str, str] = {}
        self._first_ts, self._last_ts = see_time(
            ts, self._first_ts, self._last_ts, fields, explicit
        )
        return [self._session(**fields)] if fields else []

    def _event(self, at: _At, event_type: str, **fields: Any) -> Event:
        return Event(
            session_id=self._source.session_id,
            agent_event_id=at.key,
            timestamp=at.ts,
            event_type=event_type,
            source_offset=at.offset,
            **fields,
        )

    def _json(self, value: Any) -> str:
        try:
            return cap_json(value, self._options.args_cap)
        except RecursionError:
            return "…"


# -- pure helpers ------------------------------------------------------------------------------


def _load(data: bytes) -> Any:
    """The JSON value of a whole document, or None when it is not (yet) valid JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return clean_tree(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _path_argument(args: dict[str, Any]) -> str | None:
    """The file or directory a file tool works on (``read_many_files``: its first path)."""
    for name in _PATH_KEYS:
        found = _text(args.get(name))
        if found:
            return found
    paths = args.get("paths")
    return _text(paths[0]) if isinstance(paths, list) and paths else None


def _exit_code(call: dict[str, Any], outcome: str) -> int | None:
    """A shell call's exit code from its output; a successful one without a code exited 0."""
    if _text(call.get("name")) not in _SHELLS:
        return None
    texts = [call.get("resultDisplay")]
    results = call.get("result")
    for item in results if isinstance(results, list) else ():
        response = _mapping(_mapping(_mapping(item).get("functionResponse")).get("response"))
        texts += [response.get("output"), response.get("error")]
    for text in texts:
        found = _EXIT_CODE.findall(text) if isinstance(text, str) else []
        if found:
            return int(found[-1])
    return 0 if outcome == "success" else None


def _function_responses(content: Any) -> bool:
    """Is ``content`` made of ``functionResponse`` parts only (tool results going back)?"""
    parts = [_mapping(p) for p in content] if isinstance(content, list) else []
    return bool(parts) and all("functionResponse" in p for p in parts)


def _first_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        text = _mapping(content[0]).get("text")
        return text if isinstance(text, str) else ""
    return ""
