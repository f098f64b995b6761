"""Claude Code transcripts (``~/.claude/projects/<enc-cwd>/<sessionId>.jsonl``) into records.

See ../shared/docs/transcript-formats.md §1 and §5. What each line becomes:

- ``user``: ``tool_result`` blocks → one ``ToolResult`` each (a Task/Agent result carrying
  ``toolUseResult.agentId`` also gives a ``SessionInfo`` for the child); ``isCompactSummary`` →
  ``compaction``; ``isMeta`` → nothing; any other prompt → ``message`` (role user, sizes and a
  preview).
- ``assistant``: each ``tool_use`` block → ``file_op`` | ``command`` | ``tool_call`` (pending,
  keyed by the tool_use id); text and thinking blocks → one ``message`` keyed by the line's
  ``uuid``; ``message.usage`` → one ``usage`` event keyed ``usage:<message.id>:<requestId or ''>``
  (``cache_creation.ephemeral_1h_input_tokens`` → ``cache_creation_1h_tokens``) so the store's
  max-merge collapses the repeated snapshots of one response (quirks 1–3);
  ``isApiErrorMessage`` → ``error`` instead of message and usage.
- ``system``: ``compact_boundary`` → ``compaction``; ``turn_duration`` → ``turn``;
  ``api_error``/``error``/``api_refusal`` → ``error``; hook notices, stop-hook and away
  summaries → nothing.
- ``progress`` with ``data.type == "agent_progress"`` → the child's ``SessionInfo`` as soon as a
  subagent starts; its nested messages are not counted (the subagent's own file has them).
- ``attachment`` hook errors → ``error``; ``custom-title`` / ``ai-title`` → the session title.
- ``summary`` (titles of *other* sessions, quirk 5), ``file-history-snapshot``,
  ``queue-operation``, ``permission-mode``, ``last-prompt`` and unknown types → nothing, to keep
  the database small. Their timestamps move nothing: ``last_activity`` is derived by the store
  from the events it stores.

Session identity is the file (``source.session_id``); the first ``sessionId`` seen is kept as the
agent's id, so a resumed file holding several stays one session (quirk 6). ``project_dir`` is the
first ``cwd``; relative paths resolve against the latest one.

Subagents (quirk 7): a ``<session>/subagents/agent-<id>.jsonl`` file has its parent from the path
and its title from the sidecar; a legacy sibling ``agent-<id>.jsonl`` (first envelope line
``isSidechain``) names its parent only through ``sessionId`` → ``claude-code:<sessionId>``. A
top-level file announces each child it spawns with ``parent_tool_call_id`` and the Task
description as title, under the id and path ``collector.parsers.sources`` gives that child's file in
the layout of the line's version (≥ 2.1.2 nested, else sibling); a child whose file never appears is
a session row without events.

Messages store sizes (``tool_arguments`` ``{"role", "chars", …}``) and a bounded ``preview`` of
the prompt or reply text (``collector.parsers.text``; thinking is never previewed); the first
real prompt's first line is the session's fallback title. Messages and errors keep the first
``raw_cap`` characters of the line's own JSON as ``raw_data`` (cut, never re-serialised);
tool rows store ``cap_json`` of the input (cut before dumping when the line is large).

Every line of every transcript passes through ``parse_line``, so the hot path is kept lean: the
per-line steps sit in one frame, session facts are compared before anything else is done with
them (the usual line in one test), the per-line events are built positionally (see
``_EVENT_FIELDS``), a message's small JSON arguments are written as text, and strings of the
decoded line are cleaned in place (see ``_NUL_ONLY``). Large tool result
lines are decoded typed, skipping the tool's output (``collector.parsers.claude_decode``); the
handlers see the same dict either way.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
from msgspec.structs import fields

from collector.parsers.base import ParserBase
from collector.parsers.categories import categorize_command
from collector.parsers.claude_decode import decode_claude_line, raw_value
from collector.parsers.decode import resolve_path
from collector.parsers.sanitize import cap_json, clean_text, cut_utf8, line_prefix
from collector.parsers.text import content_text, title_from_prompt
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult
from store.timestamps import match_contract_form, normalize_timestamp

__all__ = ["ClaudeParser"]

AGENT = "claude-code"
_SYNTHETIC_MODEL = "<synthetic>"
_NEW_LAYOUT_SINCE = (2, 1, 2)  # subagents live in <session>/subagents/ from this version on
_MAX_REMEMBERED = 64  # bound on the per-file maps kept in state()
_SHRINK_DEPTH = 16
_DUMP_WHOLE_BYTES = 8192  # a tool input on a line up to this size is dumped without _shrink
_MAX_COUNT = 2**62  # fits SQLite's INTEGER
_COUNT_BITS = 62  # ints below 2**_COUNT_BITS are counts as they are (see _usage)

# tool name → (operation, input key holding the target)
_FILE_TOOLS: dict[str, tuple[str, str]] = {
    "Read": ("read", "file_path"),
    "Write": ("write", "file_path"),
    "Edit": ("edit", "file_path"),
    "MultiEdit": ("edit", "file_path"),
    "NotebookEdit": ("edit", "notebook_path"),
    "Glob": ("search", "pattern"),
    "Grep": ("search", "path"),
}
_SHELL_TOOLS = frozenset({"Bash"})
_SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
_ERROR_SUBTYPES = ("api_error", "error", "api_refusal")  # tuples: values may be unhashable
_HOOK_ERRORS = ("hook_blocking_error", "hook_non_blocking_error")
_API_ERROR_KEYS = ("error", "retryInMs", "retryAttempt", "maxRetries", "cause")
_DURATION_KEYS = ("durationMs", "totalDurationMs", "duration_ms")  # a result's own, in order
_UNTIMED = frozenset({"custom-title", "ai-title", "progress"})  # handlers that emit no events

_NOTHING: dict[str, Any] = {}  # what a parser's _Line holds between lines (never written to)

# _NUL_ONLY: every string of a decoded line is free of lone surrogates (orjson and msgspec refuse
# their escapes, and the fallback decoder's output is cleaned whole), so of ``clean_text`` only
# its NUL replacement can apply. The hot paths test ``"\x00" in value`` in place instead of
# calling it: the call (and for non-ASCII text, the UTF-8 encoding it checks with) cost more.

# The per-line events (tool call, whole-line, usage) are built with positional arguments: naming
# a few of Event's 22 fields costs a third of the call, paid once or twice per line. The order
# they rely on is checked when this module loads.
_EVENT_FIELDS = (
    "session_id", "agent_event_id", "timestamp", "event_type", "tool_name", "tool_call_id",
    "tool_arguments", "file_path", "operation", "command", "command_category", "status",
    "duration_ms", "exit_code", "parent_event_id", "model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "raw_data", "source_offset",
    "reasoning_tokens", "cache_creation_1h_tokens", "wait_ms", "preview",
)  # fmt: skip


def _check_event_fields() -> None:
    """Refuse to load if Event's leading fields moved or a later one has no default."""
    found = fields(Event)
    names = tuple(f.name for f in found[: len(_EVENT_FIELDS)])
    required = [f.name for f in found[len(_EVENT_FIELDS) :] if f.required]
    if names != _EVENT_FIELDS or required:
        raise ImportError(
            f"store.records.Event fields {names} + required {required} no longer match "
            "the positional calls in collector.parsers.claude (_EVENT_FIELDS)"
        )


_check_event_fields()


class _State:
    """What one file's parser must remember across lines and restarts (see ``state()``)."""

    __slots__ = (
        "agent_session_id",
        "announced",
        "children",
        "custom_title",
        "cwd",
        "first_ts",
        "git_branch",
        "last_ts",
        "last_usage",
        "model",
        "parent",
        "project_dir",
        "sidechain",
        "tasks",
        "titled",
        "version",
    )

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data if isinstance(data, dict) else {}
        self.announced = data.get("announced") is True
        self.agent_session_id = _str(data.get("agent_session_id"))
        self.cwd = _str(data.get("cwd"))
        self.project_dir = _str(data.get("project_dir"))
        self.git_branch = _str(data.get("git_branch"))
        self.model = _str(data.get("model"))
        self.version = _str(data.get("version"))
        self.first_ts = _str(data.get("first_ts"))
        self.last_ts = _str(data.get("last_ts"))
        sidechain = data.get("sidechain")
        self.sidechain: bool | None = sidechain if isinstance(sidechain, bool) else None
        self.parent = _str(data.get("parent"))
        self.custom_title = data.get("custom_title") is True
        self.titled = data.get("titled") is True  # a title (any kind) was emitted
        usage = data.get("last_usage")
        self.last_usage: list[Any] | None = usage if isinstance(usage, list) else None
        tasks = data.get("tasks")
        self.tasks: dict[str, str] = (
            {k: v for k, v in tasks.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(tasks, dict)
            else {}
        )
        children = data.get("children")
        self.children: list[str] = (
            [c for c in children if isinstance(c, str)] if isinstance(children, list) else []
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy; lists and maps copied so later parsing cannot alter it."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["tasks"] = dict(self.tasks)
        data["children"] = list(self.children)
        data["last_usage"] = list(self.last_usage) if self.last_usage is not None else None
        return data


class ClaudeParser(ParserBase):
    """Parser for one Claude Code transcript file (``TranscriptParser``).

    The sidecar is the decoded ``agent-<id>.meta.json`` of a subagent file
    (``agentType``/``description`` → title).
    """

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        options = self._options  # the caps read on every line, kept as plain attributes
        self._args_cap = options.args_cap
        self._raw_cap = options.raw_cap
        self._preview = options.preview_chars
        self._title = _sidecar_title(sidecar)
        self._st = _State(saved)
        self._line = _Line(_NOTHING, "", 0, b"")
        self._settled = False  # _identity_facts has nothing left to learn

    def state(self) -> dict[str, Any]:
        """Session facts already emitted, cwd, timestamps, last usage key, pending subagents."""
        return self._st.to_dict()

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        """Records for one line; any unexpected failure becomes a ``ParseProblem``.

        The per-line steps are written out here, in one frame, because this runs for every
        line of every transcript; the handlers do the rest.
        """
        try:
            obj = decode_claude_line(line, offset, self._path)
            if not isinstance(obj, dict):  # a ParseProblem (tested so: see store.records)
                return [obj]
            kind = obj.get("type")
            if kind == "summary":
                return []  # a title for another session's leafUuid (quirk 5)
            out: list[Record] = []
            ts = obj.get("timestamp")
            if type(ts) is not str or len(ts) != 24 or match_contract_form(ts) is None:
                ts = normalize_timestamp(ts)  # else it is already in the contract's form
            info = self._session_facts(obj, kind, ts)
            if info is not None:
                out.append(info)
            handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
            if handler is None:
                return out
            ts = ts or self._st.last_ts
            if ts is None and kind not in _UNTIMED:
                out.append(ParseProblem(self._path, offset, "missing timestamp", line_prefix(line)))
                return out
            ln = self._line  # one per parser, filled per line: building one cost ~0.15 µs
            ln.obj, ln.ts, ln.offset, ln.line = obj, ts or "", offset, line
            try:
                handler(self, ln, out)
            finally:
                ln.obj, ln.line = _NOTHING, b""  # keep no line alive between calls
            return out
        except Exception as exc:  # a bad line must never stop the file
            return self._failed(line, offset, exc)

    # -- per line ---------------------------------------------------------------------------

    def _session_facts(
        self, obj: dict[str, Any], kind: object, ts: str | None
    ) -> SessionInfo | None:
        """A ``SessionInfo`` carrying only what this line teaches that was not emitted yet.

        It runs on every line, so each value is first compared with the known one: on almost
        every line that settles it.
        """
        st = self._st
        if (
            self._settled
            and ts is not None
            and st.first_ts is not None
            and st.last_ts is not None
            and st.first_ts <= ts
            and obj.get("cwd") == st.cwd
            and obj.get("gitBranch") == st.git_branch
            and obj.get("version") == st.version
        ):  # the usual line teaches nothing: at most a later last timestamp (as below)
            message = obj.get("message") if kind == "assistant" else None
            if not isinstance(message, dict) or message.get("model") == st.model:
                if ts > st.last_ts:  # noqa: PLR1730 (a call of max() costs more)
                    st.last_ts = ts
                return None
        return self._new_facts(obj, kind, ts)

    def _new_facts(self, obj: dict[str, Any], kind: object, ts: str | None) -> SessionInfo | None:
        """``_session_facts`` for a line that may teach something, compared value by value."""
        st = self._st
        new: dict[str, Any] = {}
        if not self._settled:
            self._identity_facts(obj, new)
        cwd = obj.get("cwd")
        if cwd != st.cwd and isinstance(cwd, str) and cwd:
            st.cwd = clean_text(cwd)
            if st.project_dir is None:  # project_dir is the first cwd
                st.project_dir = new["project_dir"] = st.cwd
        branch = obj.get("gitBranch")
        if branch != st.git_branch and isinstance(branch, str) and branch:
            st.git_branch = new["git_branch"] = clean_text(branch)
        version = obj.get("version")
        if version != st.version and isinstance(version, str) and version:
            st.version = new["agent_version"] = clean_text(version)
        if kind == "assistant":
            message = obj.get("message")
            model = message.get("model") if isinstance(message, dict) else None
            if model != st.model and isinstance(model, str) and model and model != _SYNTHETIC_MODEL:
                st.model = new["model"] = clean_text(model)
        if ts is not None:
            if st.first_ts is None or ts < st.first_ts:
                st.first_ts = new["first_seen"] = ts
            if st.last_ts is None or ts > st.last_ts:
                st.last_ts = ts
                if new:  # activity alone needs no record: the store derives it from events
                    new["last_activity"] = ts
        if not new:
            return None
        return SessionInfo(self._sid, AGENT, self._path, **new)

    def _identity_facts(self, obj: dict[str, Any], new: dict[str, Any]) -> None:
        """What the first lines settle: the announcement, the agent's id, the sidechain flag."""
        st = self._st
        if not st.announced:
            st.announced = True
            new["parent_session_id"] = self._source.parent_session_id
            new["title"] = self._title
            st.titled = self._title is not None
        if st.agent_session_id is None:
            sid = obj.get("sessionId")
            if isinstance(sid, str) and sid:
                st.agent_session_id = new["agent_session_id"] = clean_text(sid)
        if st.sidechain is None and "isSidechain" in obj:
            self._decide_sidechain(obj.get("isSidechain") is True, obj.get("sessionId"), new)
        # Each of the three, once set, stays set: later lines can skip this method.
        self._settled = st.agent_session_id is not None and st.sidechain is not None

    def _decide_sidechain(self, sidechain: bool, sid: object, new: dict[str, Any]) -> None:
        """The first envelope line tells whether this is a legacy sibling subagent file.

        Such a file carries its parent's ``sessionId``; new-layout files know their parent
        from the path already, and a main file's ``sessionId`` is its own.
        """
        st = self._st
        st.sidechain = sidechain
        if not sidechain or self._source.parent_session_id is not None or not isinstance(sid, str):
            return
        parent = f"{AGENT}:{clean_text(sid)}"
        if sid and parent != self._sid:
            st.parent = new["parent_session_id"] = parent

    # -- user lines --------------------------------------------------------------------------

    def _user(self, ln: _Line, out: list[Record]) -> None:
        obj = ln.obj
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, list):
            results = []  # a loop: a comprehension is a call of its own (Python 3.11)
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    results.append(block)
            if results:
                self._tool_results(ln, results, out)
                return
        if obj.get("isMeta") is True:
            return  # injected caveats and hook text, not typed by the user
        local = _local_command(content)
        if local is not None:  # a slash command run in the terminal, or what it printed
            out.append(self._line_event(ln, "other", local))
            return
        chars, images = _content_size(content)
        if obj.get("isCompactSummary") is True:
            args: dict[str, Any] = {"role": "summary", "chars": chars}
            out.append(self._line_event(ln, "compaction", args))
            return
        dumped = f'{{"role":"user","chars":{chars}'  # what cap_json would give
        dumped += f',"images":{images}}}' if images else "}"
        text = content_text(content, max(self._preview, 400))
        out.append(self._message_event(ln, dumped, None, _preview(text, self._preview)))
        if not self._st.titled and (title := title_from_prompt(text)) is not None:
            self._st.titled = True
            self._fallback_title(title, out)

    def _fallback_title(self, title: str, out: list[Record]) -> None:
        """The first prompt's title, in the line's own ``SessionInfo`` when it has one."""
        first = out[0] if out else None
        if isinstance(first, SessionInfo) and first.session_id == self._sid and not first.title:
            first.title, first.title_fallback = title, True
            return
        out.append(SessionInfo(self._sid, AGENT, self._path, title=title, title_fallback=True))

    def _tool_results(self, ln: _Line, results: list[dict[str, Any]], out: list[Record]) -> None:
        # toolUseResult belongs to the line; with several results it cannot be attributed.
        detail = ln.obj.get("toolUseResult") if len(results) == 1 else None
        for block in results:
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                continue
            call_id = call_id if "\x00" not in call_id else clean_text(call_id)  # _NUL_ONLY
            status, duration, code = _outcome(block, detail)
            out.append(ToolResult(self._sid, call_id, ln.ts, status, duration, code))
            if isinstance(detail, dict) and "agentId" in detail:
                self._child_session(detail["agentId"], call_id, ln.obj, out)
            if self._st.tasks:
                self._st.tasks.pop(call_id, None)  # the call is over: its title is not needed

    def _child_session(
        self, agent_id: object, call_id: str | None, obj: dict[str, Any], out: list[Record]
    ) -> None:
        """Announce the subagent session a Task/Agent call spawned, linked to that call.

        Only a top-level file does this (a subagent's own children cannot be placed by path).
        The child's file name follows the layout of this line's Claude Code version.
        """
        st = self._st
        if self._source.parent_session_id is not None or st.sidechain or st.parent:
            return
        if not isinstance(agent_id, str) or not _is_token(agent_id):
            return
        version = obj.get("version")
        layout_new = _is_new_layout(version if isinstance(version, str) else st.version)
        if layout_new is None:
            return
        child_id, child_path = _child_location(self._sid, self._path, agent_id, layout_new)
        if child_id in st.children:
            return
        st.children.append(child_id)
        del st.children[:-_MAX_REMEMBERED]
        title = st.tasks.pop(call_id, None) if call_id else None
        out.append(
            SessionInfo(
                child_id,
                AGENT,
                child_path,
                parent_session_id=self._sid,
                parent_tool_call_id=call_id,
                title=title,
            )
        )

    # -- assistant lines ---------------------------------------------------------------------

    def _assistant(self, ln: _Line, out: list[Record]) -> None:
        obj = ln.obj
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        model = message.get("model")
        if not isinstance(model, str):
            model = None
        elif "\x00" in model:  # see _NUL_ONLY
            model = clean_text(model)
        if obj.get("isApiErrorMessage") is True:
            args = {"kind": "api_error_message", "chars": _content_size(message.get("content"))[0]}
            error = obj.get("error")
            if isinstance(error, str):
                args["error"] = clean_text(error[:200])
            out.append(self._line_event(ln, "error", args, model=model))
            return
        text_chars, thinking_chars, seen, texts = 0, 0, False, []
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for index, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_use":
                out.append(self._tool_event(ln, block, index))
            elif kind == "text":
                text = block.get("text")
                if isinstance(text, str):
                    text_chars, seen = text_chars + len(text), True
                    texts.append(text)
            elif kind == "thinking":
                thinking = block.get("thinking")
                thinking_chars += len(thinking) if isinstance(thinking, str) else 0
                seen = True
        if seen:
            dumped = f'{{"role":"assistant","chars":{text_chars}'  # what cap_json would give
            dumped += f',"thinking_chars":{thinking_chars}}}' if thinking_chars else "}"
            shown = _preview("\n".join(texts), self._preview) if texts else None
            out.append(self._message_event(ln, dumped, model, shown))
        self._usage(ln, message, model, out)

    def _tool_event(self, ln: _Line, block: dict[str, Any], index: int) -> Event:
        raw_id = block.get("id")
        call_id = raw_id if isinstance(raw_id, str) and raw_id else None
        if call_id is not None and "\x00" in call_id:  # see _NUL_ONLY
            call_id = clean_text(call_id)
        name = block.get("name")
        if not isinstance(name, str) or not name:
            name = "unknown"
        elif "\x00" in name:
            name = clean_text(name)
        data = block.get("input")
        params = data if isinstance(data, dict) else {}
        event_type, operation, file_path, command, category = "tool_call", None, None, None, None
        file_tool = _FILE_TOOLS.get(name)
        if file_tool is not None:
            event_type, operation = "file_op", file_tool[0]
            file_path = params.get(file_tool[1])
            if (
                name == "Glob"
                or not isinstance(file_path, str)
                or not file_path.startswith("/")
                or "\x00" in file_path
            ):  # else an absolute path, its own target (as _target gives it, see _NUL_ONLY)
                file_path = self._target(name, file_tool[1], params)
        elif name in _SHELL_TOOLS:
            event_type, command = "command", params.get("command")
            if isinstance(command, str):
                command = command[: self._args_cap]
                if "\x00" in command:  # see _NUL_ONLY
                    command = clean_text(command)
                category = categorize_command(command)
            else:
                command = None
        elif name in _SUBAGENT_TOOLS and call_id is not None:
            self._remember_task(call_id, params.get("description"))
        return Event(  # positional, see _EVENT_FIELDS
            self._sid, call_id or f"{ln.key}:{index}", ln.ts, event_type,
            name, call_id, self._arguments(data, len(ln.line)),
            file_path, operation, command, category, "pending",
            None, None, None, None,  # duration_ms, exit_code, parent_event_id, model
            None, None, None, None,  # input, output, cache_read, cache_creation tokens
            None, ln.offset,  # raw_data, source_offset
        )  # fmt: skip

    def _arguments(self, data: object, line_length: int) -> str:
        """Capped JSON of a tool's input, cut before dumping only when the line is large.

        ``_shrink`` rebuilds the value and costs more than dumping a few KB whole, so only
        lines beyond ``_DUMP_WHOLE_BYTES`` (and the cap) are cut first; the text is the same.
        """
        cap = self._args_cap
        if line_length <= cap or line_length <= _DUMP_WHOLE_BYTES:
            return cap_json(data, cap)
        return cap_json(_shrink(data, cap, 0), cap)

    def _target(self, tool: str, key: str, params: dict[str, Any]) -> str | None:
        """Absolute target of a file tool; Glob → its pattern under ``path``, Grep → ``path``.

        A search without ``path`` runs in the session's cwd, so that is its target.
        """
        value = params.get(key)
        if tool == "Glob" and isinstance(value, str) and value:
            base = params.get("path")
            if isinstance(base, str) and base and not value.startswith("/"):
                value = base.rstrip("/") + "/" + value
        if isinstance(value, str) and value:
            if value.startswith("/") and "\x00" not in value:
                return value  # what resolve_path gives an absolute path (see _NUL_ONLY)
            return resolve_path(value, self._st.cwd)
        if tool in ("Glob", "Grep"):
            return self._st.cwd
        return None

    def _remember_task(self, call_id: str, description: object) -> None:
        """Keep a Task/Agent description until its result names the child session."""
        if not isinstance(description, str) or not description:
            return
        tasks = self._st.tasks
        tasks[call_id] = clean_text(description[:200])
        while len(tasks) > _MAX_REMEMBERED:
            del tasks[next(iter(tasks))]

    def _usage(
        self, ln: _Line, message: dict[str, Any], model: str | None, out: list[Record]
    ) -> None:
        """One row per API response; identical repeats of the previous line are not re-sent."""
        usage = message.get("usage")
        if not isinstance(usage, dict) or model == _SYNTHETIC_MODEL:
            return
        msg_id = message.get("id")
        request = ln.obj.get("requestId")
        request = request if isinstance(request, str) else ""
        base = msg_id if isinstance(msg_id, str) and msg_id else f"line:{ln.key}"
        get = usage.get
        inputs, outputs = get("input_tokens"), get("output_tokens")
        reads, creations = get("cache_read_input_tokens"), get("cache_creation_input_tokens")
        stamp = [base, request, inputs, outputs, reads, creations]
        st = self._st
        if stamp == st.last_usage:
            return  # the store would merge it into the same row without change
        st.last_usage = stamp
        if not (
            type(inputs) is int
            and type(outputs) is int
            and type(reads) is int
            and type(creations) is int
            and (inputs | outputs | reads | creations) >> _COUNT_BITS == 0
        ):  # else four ints in [0, 2**62): their own counts (the usual case, tested in place;
            # a negative one makes the OR negative, a larger one sets a bit from 62 up)
            inputs, outputs, reads, creations = map(_count, (inputs, outputs, reads, creations))
        split = get("cache_creation")
        hour = split.get("ephemeral_1h_input_tokens") if isinstance(split, dict) else None
        if hour is not None and (type(hour) is not int or not 0 <= hour <= _MAX_COUNT):
            hour = _count(hour)  # the usual in-range int is its own count
        key = f"usage:{base}:{request}"
        out.append(
            Event(  # positional, see _EVENT_FIELDS
                self._sid, key if "\x00" not in key else clean_text(key), ln.ts, "usage",
                None, None, None,  # tool_name, tool_call_id, tool_arguments
                None, None, None, None, None,  # file_path … status
                None, None, None, model,  # duration_ms, exit_code, parent_event_id, model
                inputs, outputs, reads, creations,
                None, ln.offset,  # raw_data, source_offset
                None, hour,  # reasoning_tokens, cache_creation_1h_tokens
            )
        )  # fmt: skip

    # -- system and the rest -----------------------------------------------------------------

    def _system(self, ln: _Line, out: list[Record]) -> None:
        obj = ln.obj
        subtype = obj.get("subtype")
        if subtype == "compact_boundary":
            meta = obj.get("compactMetadata")
            meta = meta if isinstance(meta, dict) else {}
            args = {"trigger": meta.get("trigger"), "pre_tokens": meta.get("preTokens")}
            out.append(self._line_event(ln, "compaction", args))
        elif subtype == "turn_duration":
            args = {"message_count": obj.get("messageCount")}
            out.append(
                self._line_event(ln, "turn", args, duration_ms=_count(obj.get("durationMs")))
            )
        elif subtype in _ERROR_SUBTYPES:
            args = {"subtype": subtype}
            args.update(
                (k, _shrink(obj[k], self._args_cap, 0)) for k in _API_ERROR_KEYS if k in obj
            )
            out.append(self._line_event(ln, "error", args))

    def _progress(self, ln: _Line, out: list[Record]) -> None:
        data = ln.obj.get("data")
        if isinstance(data, dict) and data.get("type") == "agent_progress":
            call_id = ln.obj.get("parentToolUseID")
            call_id = clean_text(call_id) if isinstance(call_id, str) and call_id else None
            self._child_session(data.get("agentId"), call_id, ln.obj, out)

    def _attachment(self, ln: _Line, out: list[Record]) -> None:
        attachment = ln.obj.get("attachment")
        kind = attachment.get("type") if isinstance(attachment, dict) else None
        if kind in _HOOK_ERRORS:
            out.append(self._line_event(ln, "error", {"kind": kind}))

    def _title_line(self, ln: _Line, out: list[Record]) -> None:
        """``/rename`` titles win over generated ones, as in Claude Code's resume picker."""
        obj, st = ln.obj, self._st
        custom = obj.get("type") == "custom-title"
        title = obj.get("customTitle" if custom else "aiTitle")
        if not isinstance(title, str) or not title or (st.custom_title and not custom):
            return
        st.custom_title = st.custom_title or custom
        st.titled = True
        out.append(SessionInfo(self._sid, AGENT, self._path, title=clean_text(title[:200])))

    def _line_event(
        self,
        ln: _Line,
        event_type: str,
        args: dict[str, Any],
        model: str | None = None,
        duration_ms: int | None = None,
        *,
        text: str | None = None,
    ) -> Event:
        """An event that stands for the whole line: keyed by uuid, raw JSON prefix attached."""
        return Event(  # positional, see _EVENT_FIELDS
            self._sid, ln.key, ln.ts, event_type,
            None, None, cap_json(args, self._args_cap),  # tool_name, tool_call_id, tool_arguments
            None, None, None, None, None,  # file_path, operation, command, command_category, status
            duration_ms, None, None, model,  # duration_ms, exit_code, parent_event_id, model
            None, None, None, None,  # input, output, cache_read, cache_creation tokens
            _raw_prefix(ln.line, self._raw_cap), ln.offset,  # raw_data, source_offset
            None, None, None, text,  # reasoning_tokens, cache_creation_1h_tokens, wait_ms, preview
        )  # fmt: skip

    def _message_event(self, ln: _Line, args: str, model: str | None, text: str | None) -> Event:
        """A message's ``_line_event``, its arguments already JSON text of ASCII characters
        (built directly: dumping the dict cost more than the rest of the event)."""
        cap, uuid = self._args_cap, ln.obj.get("uuid")
        # ln.key, read in place for the usual uuid (see _NUL_ONLY)
        key = uuid if isinstance(uuid, str) and uuid and "\x00" not in uuid else ln.key
        return Event(  # positional, see _EVENT_FIELDS
            self._sid, key, ln.ts, "message",
            None, None, args if len(args) <= cap else args[:cap] + "…",  # as cap_json cuts
            None, None, None, None, None,  # file_path, operation, command, command_category, status
            None, None, None, model,  # duration_ms, exit_code, parent_event_id, model
            None, None, None, None,  # input, output, cache_read, cache_creation tokens
            cut_utf8(ln.line, self._raw_cap), ln.offset,  # raw_data (_raw_prefix), source_offset
            None, None, None, text,  # reasoning_tokens, cache_creation_1h_tokens, wait_ms, preview
        )  # fmt: skip


class _Line:
    """One decoded line with what every handler needs."""

    __slots__ = ("line", "obj", "offset", "ts")

    def __init__(self, obj: dict[str, Any], ts: str, offset: int, line: bytes) -> None:
        self.obj = obj
        self.ts = ts
        self.offset = offset
        self.line = line

    @property
    def key(self) -> str:
        """The line's own id, for records that stand for the line (tool results need none)."""
        uuid = self.obj.get("uuid")
        # No uuid: the byte offset is still stable across re-reads of an append-only file.
        if not isinstance(uuid, str) or not uuid:
            return f"offset:{self.offset}"
        return uuid if "\x00" not in uuid else clean_text(uuid)  # see _NUL_ONLY


_HANDLERS = {
    "user": ClaudeParser._user,
    "assistant": ClaudeParser._assistant,
    "system": ClaudeParser._system,
    "progress": ClaudeParser._progress,
    "attachment": ClaudeParser._attachment,
    "custom-title": ClaudeParser._title_line,
    "ai-title": ClaudeParser._title_line,
}


# -- pure helpers -----------------------------------------------------------------------------


def _preview(text: str, limit: int) -> str | None:
    """``collector.parsers.text.preview`` of text from a decoded line (see ``_NUL_ONLY``)."""
    if limit <= 0 or not text or text.isspace():
        return None
    text = text[:limit]
    return text if "\x00" not in text else clean_text(text)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    """A token count or duration, or None when absent, negative or not a number."""
    if type(value) is int:  # exact type: bool is not a count
        return value if 0 <= value <= _MAX_COUNT else None
    if type(value) is float and math.isfinite(value) and 0 <= value <= _MAX_COUNT:
        return int(value)
    return None


def _content_size(content: object) -> tuple[int, int]:
    """Characters of text and number of images in a message's content."""
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            text = block.get("text")
            if kind == "text" and isinstance(text, str):
                chars += len(text)
            elif kind == "image":
                images += 1
    return chars, images


def _outcome(block: dict[str, Any], detail: object) -> tuple[str, int | None, int | None]:
    """A result's status, duration and exit code (``_result_status``, ``_duration_ms``,
    ``_exit_code``); the usual ``toolUseResult`` object is read here in one pass."""
    if type(detail) is not dict:
        status = _result_status(block, detail)
        return status, _duration_ms(detail), _exit_code(block, detail, status)
    if not detail:  # what the typed path leaves of a file tool's result: only the block tells
        if block.get("is_error") is True:
            return "error", None, _leading_exit_code(_first_text(block))
        return "success", None, None
    get = detail.get
    interrupted = get("interrupted")
    failed = block.get("is_error") is True or interrupted is True or get("success") is False
    duration = _duration_ms(detail)
    code = get("exitCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return ("error" if failed else "success"), duration, code
    if failed:
        return "error", duration, _leading_exit_code(_first_text(block))
    if (
        "stdout" in detail
        and interrupted is False
        and not get("returnCodeInterpretation")
        and not get("backgroundTaskId")
    ):
        return "success", duration, 0
    return "success", duration, None


def _result_status(block: dict[str, Any], detail: object) -> str:
    """error when the block says so, the result is an ``Error: …`` string or was interrupted."""
    if block.get("is_error") is True:
        return "error"
    if isinstance(detail, str) and detail.startswith("Error"):
        return "error"
    if isinstance(detail, dict) and (
        detail.get("interrupted") is True or detail.get("success") is False
    ):
        return "error"
    return "success"


def _duration_ms(detail: object) -> int | None:
    """The tool's own duration: Glob/WebFetch ``durationMs``, Task ``totalDurationMs``, …"""
    if not isinstance(detail, dict):
        return None
    get = detail.get
    for key in _DURATION_KEYS:
        value = get(key)
        if value is not None and (value := _count(value)) is not None:
            return value
    seconds = get("durationSeconds")  # WebSearch
    if seconds is None:  # the usual result
        return None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return _count(round(seconds * 1000))
    return None


def _exit_code(block: dict[str, Any], detail: object, status: str) -> int | None:
    """The exit code where Claude Code records one (§1.8).

    BashOutput carries ``exitCode``; a failed Bash says ``Exit code N`` first; a successful
    Bash result (stdout/stderr/interrupted) without a ``returnCodeInterpretation`` (a non-zero
    code the tool accepted, e.g. grep's 1) and not sent to the background exited 0, because
    Bash turns any other code into an error.
    """
    if isinstance(detail, dict):
        code = detail.get("exitCode")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    if status == "error":
        if isinstance(detail, str) and detail.startswith("Error: "):
            return _leading_exit_code(detail[len("Error: ") :])
        return _leading_exit_code(_first_text(block))
    if (
        isinstance(detail, dict)
        and "stdout" in detail
        and detail.get("interrupted") is False
        and not detail.get("returnCodeInterpretation")
        and not detail.get("backgroundTaskId")
    ):
        return 0
    return None


def _first_text(block: dict[str, Any]) -> str | None:
    content = block.get("content")
    if isinstance(content, msgspec.Raw):  # kept undecoded by the typed path
        content = raw_value(content)
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        text = content[0].get("text")
        return text if isinstance(text, str) else None
    return None


def _leading_exit_code(text: str | None) -> int | None:
    """N from a text starting ``Exit code N`` (the only place a failed Bash states it)."""
    if text is None or not text.startswith("Exit code "):
        return None
    digits = text[10:20].split("\n", 1)[0].split(" ", 1)[0]
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _is_token(value: str) -> bool:
    """An agentId safe to put in a session id and a file name."""
    return 0 < len(value) <= 64 and value.isascii() and value.replace("-", "").isalnum()


def _is_new_layout(version: str | None) -> bool | None:
    """Whether Claude Code ``version`` writes subagents under ``<session>/subagents/``."""
    if not version:
        return None
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = piece[: len(piece) - len(piece.lstrip("0123456789"))]
        if not digits:
            return None
        parts.append(int(digits))
    return tuple(parts) >= _NEW_LAYOUT_SINCE


def _child_location(session_id: str, path: str, agent_id: str, new_layout: bool) -> tuple[str, str]:
    """Our session id and transcript path of subagent ``agent_id`` (as ``sources`` names it)."""
    sep = "/" if "/" in path else "\\"
    folder, _, name = path.rpartition(sep)
    stem = name[: -len(".jsonl")] if name.endswith(".jsonl") else name
    prefix = folder + sep if folder or path.startswith(sep) else ""
    file_name = f"agent-{agent_id}.jsonl"
    if new_layout:
        return f"{session_id}/agent-{agent_id}", f"{prefix}{stem}{sep}subagents{sep}{file_name}"
    return f"{AGENT}:agent-{agent_id}", f"{prefix}{file_name}"


_COMMAND_NAME = re.compile(r"<command-name>\s*([^<]{1,64}?)\s*</command-name>")
_COMMAND_OUTPUT = re.compile(r"^<local-command-(stdout|stderr)>(.*?)(?:</local-command-\1>|$)",
                             re.DOTALL)  # fmt: skip


def _local_command(content: Any) -> dict[str, Any] | None:
    """``/exit``, ``/clear`` … typed in the terminal (``<command-name>`` lines) and their output
    (``<local-command-stdout>``): Claude Code writes them as user lines, but nobody said them to
    the model. None for anything else."""
    text = content if isinstance(content, str) else None
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict):
        block = content[0]
        text = block.get("text") if block.get("type") == "text" else None
    if not isinstance(text, str):
        return None
    text = text.lstrip()
    if text.startswith(("<command-name>", "<command-message>")):
        found = _COMMAND_NAME.search(text)
        if found is not None:
            return {"kind": "local_command", "name": clean_text(found[1])}
    output = _COMMAND_OUTPUT.match(text)
    if output is not None:
        return {"kind": f"local_command_{output[1]}", "chars": len(output[2])}
    return None


def _sidecar_title(sidecar: dict[str, Any] | None) -> str | None:
    if not isinstance(sidecar, dict):
        return None
    for key in ("description", "agentType"):
        value = sidecar.get(key)
        if isinstance(value, str) and value:
            return clean_text(value[:200])
    return None


def _shrink(value: Any, cap: int, depth: int) -> Any:
    """``value`` with strings, lists and maps cut to ``cap`` items before it is serialised.

    ``cap_json(_shrink(v, cap), cap) == cap_json(v, cap)``: every item adds at least one
    character, so the texts agree for more than ``cap`` characters before the first cut.
    It spares dumping a 100 KB ``Write`` content only to keep its first 2 KB.
    """
    if isinstance(value, str):
        return value[:cap] if len(value) > cap else value
    if depth >= _SHRINK_DEPTH:
        return value
    if isinstance(value, dict):
        items = list(value.items())[:cap] if len(value) > cap else value.items()
        return {k: _shrink(v, cap, depth + 1) for k, v in items}
    if isinstance(value, list):
        return [_shrink(v, cap, depth + 1) for v in value[:cap]]
    return value


def _raw_prefix(line: bytes, cap: int) -> str:
    """The line's own JSON text cut to ``cap`` characters, like ``cap_json`` without re-dumping.

    Needs no ``clean_text``: a line that decoded is valid UTF-8 (decoding never yields a
    surrogate) and holds no raw NUL (JSON forbids control characters; both decoders refuse).
    """
    return cut_utf8(line, cap)
