"""OpenAI Codex CLI rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``) into records.

See ../shared/docs/transcript-formats.md §2, §5 (quirks 15–20) and §6. Codex lines carry no ids,
so every record is keyed by the line's byte offset (``"<offset>"``, and ``"<offset>#<n>"`` for
the n-th extra record of one line), which is stable across re-reads of the same bytes. What
each line becomes:

- ``session_meta``: the file's own (its id is the uuid in the file name; in a file named
  without one, the first meta) → ``SessionInfo`` facts (id, cwd, cli_version, git branch, the
  spawning or forked-from thread as parent) and one ``session_start`` event carrying
  originator, source and provider. A meta with another id is an ancestor's, copied in by a
  fork: it starts a replay (below).
- ``turn_context`` → model and cwd. ``thread_name_updated`` (or a subagent's nickname) → the
  session title.
- ``function_call`` / ``custom_tool_call`` / ``local_shell_call`` → one pending ``command``
  (shell tools), one ``file_op`` per file of an ``apply_patch`` (all sharing the call id) or one
  ``tool_call``; ``web_search_call``, ``tool_search_call``, ``image_generation_call`` →
  ``tool_call``.
- ``function_call_output`` / ``custom_tool_call_output`` and the ``exec_command_end``,
  ``patch_apply_end``, ``mcp_tool_call_end``, ``dynamic_tool_call_response`` events →
  ``ToolResult``. Either half of a pair may be missing (quirk 16); the store applies a result
  whenever its call row exists. A unified-exec command that outlives its first output chunk
  ("Process running with session ID N") stays pending until a ``write_stdin`` output for that
  process reports its exit code, or its ``exec_command_end`` arrives.
- ``event_msg`` ``user_message`` / ``agent_message`` and ``response_item`` messages → one
  ``message`` per message: Codex mirrors each message as an event and a response item, so the
  second copy is dropped by comparing it with the last one of that role. Injected scaffolding
  (``<environment_context>``, AGENTS.md, permissions; quirk 17) and ``developer`` messages are
  not messages. Reasoning → nothing.
- ``token_count`` → one ``usage`` event per *new* cumulative total, carrying the delta since the
  previous total (quirk 15, §2.7): re-emits with an unchanged total and ``info: null`` give
  nothing, and the id ``usage:<total>:<input>:<cached>:<output>`` is derived from the totals, so a
  re-read cannot count twice. Codex's ``input_tokens`` includes the cached (and cache-write)
  part; ``input_tokens`` here is the uncached rest, as for the other agents. Totals that go
  down mean a restarted counter: the new totals are the delta.
- Forks and spawned subagents start with the parent's history copied in, re-stamped in one
  burst at the fork instant, its ``token_count`` totals included; the child's own totals then
  continue from the parent's. While that burst lasts (lines less than ``_REPLAY_GAP_MS`` apart
  after the fork marker), token totals only move the baseline, so the parent's usage is never
  counted again in the child. The copied messages and tool calls themselves are kept: they are
  what the child's transcript holds.
- ``error`` / ``stream_error`` / ``turn_aborted`` → ``error``; ``task_started`` /
  ``task_complete`` → ``turn``; ``compacted`` lines → ``compaction``. Everything else
  (``world_state``, review mode, plan items, …) → nothing (session activity is derived by the
  store from event timestamps). A line without a usable timestamp takes the latest one seen.
"""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from collector.digests import blake2b
from collector.parsers.base import ParserBase
from collector.parsers.categories import categorize_argv, categorize_command
from collector.parsers.decode import decode_line, resolve_path
from collector.parsers.patch import file_operations, parse_patch
from collector.parsers.sanitize import cap_json, clean_text, line_prefix
from collector.parsers.text import preview, title_from_prompt
from store.records import Event, ParseProblem, Record, SessionInfo, ToolResult
from store.timestamps import normalize_timestamp

__all__ = ["CodexParser"]

AGENT = "codex"
_STATE_VERSION = 1
_MAX_REMEMBERED = 256  # bound on the process / write_stdin maps kept in state()
_REPLAY_GAP_MS = 1500  # a pause longer than this ends a fork's copied-history burst
_HEAD = 600  # characters of a tool output searched for status lines

_SHELL_TOOLS = frozenset(
    {
        "shell",
        "container.exec",
        "shell_command",
        "exec_command",
        "local_shell",
        "local_shell_call",
        "unified_exec",
    }
)
_PATCH_TOOLS = frozenset({"apply_patch", "applypatch"})
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "fish"})
_SHELL_FLAGS = frozenset({"-c", "-lc", "-ic", "-lic", "-cl"})
_TOKEN_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
_INJECTED_PREFIXES = (
    "<environment_context>",
    "# AGENTS.md instructions",
    "<user_instructions>",
    "<permissions instructions>",
    "<INSTRUCTIONS>",
    "<collaboration_mode>",
    "<skills_instructions>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
)
_WRAPPED = re.compile(r"<([A-Za-z_][\w -]*)>.*</\1>\s*\Z", re.S)
_EXITED = re.compile(r"^(?:Process exited with code|Exit code:) *(-?\d{1,10})\b", re.M)
_RUNNING = re.compile(r"^Process running with session ID (\d+)", re.M)
_WALL = re.compile(r"^Wall time: ([0-9]+(?:\.[0-9]+)?) seconds", re.M)
_FAILED = re.compile(
    r"(?:Total output lines: \d+\s+)?(?:[\w.-]+ ){0,3}(?:failed|error)\b[^\n:]{0,40}:"
)
_PATCH_START = "*** Begin Patch"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_ITEM_STATUS = {"completed": "success", "failed": "error", "incomplete": "error"}
_INT_LIMIT = 2**63  # SQLite's INTEGER range
_NO_TOKENS = (0, 0, 0, 0, 0, 0)  # one per _TOKEN_KEYS entry


class _Line:
    """One decoded line and where it sits: handed to every handler."""

    __slots__ = ("obj", "offset", "ts")

    def __init__(self, obj: dict[str, Any], ts: str, offset: int) -> None:
        self.obj = obj
        self.ts = ts
        self.offset = offset


class _Call:
    """A tool call being turned into events: its display name, id and decoded arguments."""

    __slots__ = ("args", "call_id", "name")

    def __init__(self, name: str, call_id: str | None, args: Any) -> None:
        self.name = name
        self.call_id = call_id
        self.args = args


class _State:
    """What one file's parser must remember across lines and restarts (see ``state()``)."""

    __slots__ = (
        "agent_session_id",
        "cwd",
        "first_ts",
        "git_branch",
        "last_ts",
        "mirror",
        "model",
        "parent",
        "project_dir",
        "replay",
        "replay_ms",
        "running",
        "stdin",
        "title",
        "titled",
        "tokens",
        "version",
    )

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data if isinstance(data, dict) and data.get("v") == _STATE_VERSION else {}
        self.agent_session_id = _str(data.get("agent_session_id"))
        self.project_dir = _str(data.get("project_dir"))
        self.cwd = _str(data.get("cwd"))
        self.git_branch = _str(data.get("git_branch"))
        self.model = _str(data.get("model"))
        self.version = _str(data.get("version"))
        self.parent = _str(data.get("parent"))
        self.title = _str(data.get("title"))
        self.titled = data.get("titled") is True  # a fallback title from a prompt was sent
        self.first_ts = _str(data.get("first_ts"))
        self.last_ts = _str(data.get("last_ts"))
        self.replay = data.get("replay") is True
        self.replay_ms = _int(data.get("replay_ms"))
        self.running = _str_map(data.get("running"))
        self.stdin = _str_map(data.get("stdin"))
        self.mirror = _str_map(data.get("mirror"))
        self.tokens = _tokens(data.get("tokens"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy; maps copied so later parsing cannot alter it."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        for name in ("running", "stdin", "mirror"):
            data[name] = dict(data[name])
        data["tokens"] = list(self.tokens) if self.tokens is not None else None
        data["v"] = _STATE_VERSION
        return data


class CodexParser(ParserBase):
    """Parser for one Codex rollout file (``TranscriptParser``); Codex has no sidecar files."""

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        key = self._sid.partition(":")[2]
        self._file_uuid = key if _UUID.fullmatch(key) else None  # None: no uuid in the name
        options = self._options  # the caps read on every line, kept as plain attributes
        self._args_cap = options.args_cap
        self._raw_cap = options.raw_cap
        self._preview = options.preview_chars
        self._st = _State(saved)
        self._new: dict[str, Any] = {}  # session facts the current line taught

    def state(self) -> dict[str, Any]:
        """Session facts emitted so far, cwd, timestamps, the token baseline, fork-replay flag,
        running unified-exec processes, and the last message of each role (for mirror pairs)."""
        return self._st.to_dict()

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        """Records for one line; any unexpected failure becomes a ``ParseProblem``."""
        try:
            return self._parse(line, offset)
        except Exception as exc:  # a bad line must never stop the file
            return self._failed(line, offset, exc)

    # -- per line ---------------------------------------------------------------------------

    def _parse(self, line: bytes, offset: int) -> list[Record]:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:  # the slow path: stdlib fallback, or why it is unusable
            obj = decode_line(line, offset, self._path)
            if isinstance(obj, ParseProblem):
                return [obj]
        kind = obj.get("type")
        payload = obj.get("payload")
        if payload is None and "record_type" not in obj:
            kind, payload = _legacy(obj)  # pre-Sept-2025 files: no envelope
        ts = normalize_timestamp(obj.get("timestamp"))
        if ts is None and kind == "session_meta" and isinstance(payload, dict):
            ts = normalize_timestamp(payload.get("timestamp"))
        st = self._st
        if ts is not None and st.replay:
            self._follow_replay(ts)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        out: list[Record] = []
        if handler is not None:
            if not isinstance(payload, dict):
                return [
                    ParseProblem(self._path, offset, "payload is not an object", line_prefix(line))
                ]
            when = ts or st.last_ts
            if when is None:
                return [ParseProblem(self._path, offset, "missing timestamp", line_prefix(line))]
            handler(self, payload, _Line(obj, when, offset), out)
        info = self._session_info(ts, out)
        if info is not None:
            out.insert(0, info)
        return out

    def _follow_replay(self, ts: str) -> None:
        """End the copied-history burst at the first pause longer than ``_REPLAY_GAP_MS``."""
        st = self._st
        ms = _epoch_ms(ts)
        if ms is None:
            return
        if st.replay_ms is not None and ms - st.replay_ms > _REPLAY_GAP_MS:
            st.replay, st.replay_ms = False, None
        else:
            st.replay_ms = ms

    def _session_info(self, ts: str | None, out: list[Record]) -> SessionInfo | None:
        """A ``SessionInfo`` with what handlers learnt (``self._new``) and moved timestamps."""
        st = self._st
        new = self._new
        if ts is not None:  # see_time inline: this runs for every line
            if st.first_ts is None or ts < st.first_ts:
                st.first_ts = new["first_seen"] = ts
            if st.last_ts is None or ts > st.last_ts:
                st.last_ts = ts
                if new:  # activity alone needs no record: the store derives it from events
                    new["last_activity"] = ts
        if not new:
            return None
        self._new = {}
        return SessionInfo(self._sid, AGENT, self._path, **new)

    def _learn(self, field: str, attr: str, value: object) -> None:
        """Remember a session fact and mark it for the next ``SessionInfo`` when it changed."""
        if not isinstance(value, str) or not value:
            return
        value = clean_text(value)
        if getattr(self._st, attr) != value:
            setattr(self._st, attr, value)
            self._new[field] = value

    # -- session facts -----------------------------------------------------------------------

    def _session_meta(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """The file's own meta gives the session facts; an ancestor's starts a replay."""
        st = self._st
        meta_id = p.get("id")
        meta_id = clean_text(meta_id) if isinstance(meta_id, str) and meta_id else None
        if meta_id is not None and meta_id == self._file_uuid:
            own = True
        elif st.agent_session_id is not None:
            own = meta_id == st.agent_session_id
        else:  # nothing known yet: the first meta is ours unless the file name says otherwise
            own = self._file_uuid is None
        if not own:
            self._start_replay(ln.ts)  # an ancestor's meta: copied history follows
            return
        self._learn("agent_session_id", "agent_session_id", meta_id or self._file_uuid)
        cwd = p.get("cwd")
        self._learn("project_dir", "project_dir", cwd)
        self._set_cwd(cwd)
        self._learn("agent_version", "version", p.get("cli_version"))
        git = p.get("git")
        if isinstance(git, dict):
            self._learn("git_branch", "git_branch", git.get("branch"))
        if st.title is None:
            self._learn("title", "title", p.get("agent_nickname"))
        parent = _parent_thread(p)
        if parent is not None:
            self._learn("parent_session_id", "parent", f"{AGENT}:{parent}")
            self._start_replay(ln.ts)
        keys = (
            "originator",
            "source",
            "model_provider",
            "forked_from_id",
            "agent_nickname",
            "agent_role",
            "cli_version",
        )
        args = {k: p[k] for k in keys if p.get(k) is not None}
        out.append(self._event(ln, "session_start", tool_arguments=self._args(args)))

    def _start_replay(self, ts: str) -> None:
        """Copied history follows: token totals only move the baseline until a pause."""
        st = self._st
        st.replay, st.replay_ms = True, _epoch_ms(ts)

    def _set_cwd(self, cwd: object) -> None:
        """The directory relative patch paths resolve against (absolute paths only)."""
        if isinstance(cwd, str) and (cwd.startswith("/") or cwd[1:3] in (":\\", ":/")):
            self._st.cwd = clean_text(cwd)

    def _turn_context(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """The model of the turn (the only reliable model field) and its cwd."""
        self._learn("model", "model", p.get("model"))
        cwd = p.get("cwd")
        self._set_cwd(cwd)
        if self._st.project_dir is None:
            self._learn("project_dir", "project_dir", cwd)

    def _thread_name(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """A thread renamed by the user is the session title."""
        self._learn("title", "title", p.get("thread_name"))

    # -- tool calls --------------------------------------------------------------------------

    def _function_call(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``function_call`` (arguments: JSON text) and ``custom_tool_call`` (input: raw text)."""
        raw = p.get("arguments") if "arguments" in p else p.get("input")
        self._tool_call(p, _tool_name(p), _decode_args(raw), ln, out)

    def _local_shell_call(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """The response-item shell call of some models: ``action.command`` is an argv."""
        action = p.get("action")
        args: dict[str, Any] = action if isinstance(action, dict) else {}
        shaped = {"command": args.get("command"), "workdir": args.get("working_directory")}
        self._tool_call(p, "local_shell_call", shaped, ln, out)

    def _tool_call(
        self, p: dict[str, Any], name: str, args: Any, ln: _Line, out: list[Record]
    ) -> None:
        """One pending event for a call; what kind depends on the built-in tool's name."""
        call = _Call(name, _call_id(p), args)
        if name in _PATCH_TOOLS:
            patch = args.get("input", args.get("patch")) if isinstance(args, dict) else args
            if isinstance(patch, str) and self._file_ops(call, patch, ln, out):
                return
        elif name in _SHELL_TOOLS:
            if self._command(call, ln, out):
                return
        elif name == "write_stdin" and call.call_id is not None and isinstance(args, dict):
            process = args.get("session_id")
            if isinstance(process, int | str) and not isinstance(process, bool):
                self._remember(self._st.stdin, call.call_id, str(process))
        out.append(self._call_event(ln, "tool_call", call, self._args(args)))

    def _command(self, call: _Call, ln: _Line, out: list[Record]) -> bool:
        """A pending ``command`` event (or the file ops of an ``apply_patch`` run by a shell)."""
        args = call.args
        if not isinstance(args, dict):
            return False
        shown = _shown_command(args.get("command", args.get("cmd")))
        if shown is None:
            return False
        text, script, argv = shown
        patch = _shell_patch(argv, script or text)
        if patch is not None:
            as_patch = _Call("apply_patch", call.call_id, args)
            if self._file_ops(as_patch, patch, ln, out):
                return True
        out.append(
            self._call_event(
                ln,
                "command",
                call,
                self._args(args),
                command=clean_text(text),
                command_category=_category(shown),
            )
        )
        return True

    def _file_ops(self, call: _Call, patch: str, ln: _Line, out: list[Record]) -> bool:
        """One pending ``file_op`` per file the patch touches, all with the call's id."""
        ops = file_operations(parse_patch(patch))
        if not ops:
            return False
        args = call.args
        cwd = _workdir(args) or self._st.cwd
        arguments = self._args(args if isinstance(args, dict) else {"input": patch})
        for n, (path, operation) in enumerate(ops):
            file_path = resolve_path(path, cwd)
            out.append(
                self._call_event(
                    ln, "file_op", call, arguments, n, file_path=file_path, operation=operation
                )
            )
        return True

    def _other_call(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``web_search_call`` and kin: complete when recorded, usually without a call id."""
        kind = str(p.get("type"))
        name = kind.removesuffix("_call")
        status = p.get("status")
        state = _ITEM_STATUS.get(status, "pending") if isinstance(status, str) else "pending"
        args = p.get("action", p.get("arguments"))
        out.append(
            self._event(
                ln,
                "tool_call",
                tool_name=name,
                tool_call_id=_call_id(p),
                tool_arguments=self._args(args),
                status=state,
            )
        )

    # -- tool results ------------------------------------------------------------------------

    def _call_output(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """A tool output completes its call; unified exec may complete another one too.

        A ``write_stdin`` poll is itself done when answered; when it reports that its
        process exited, the ``exec_command`` that started the process is complete as well."""
        call_id = _call_id(p)
        if call_id is None:
            return
        status, exit_code, duration, running = _outcome(p.get("output"))
        st = self._st
        process = st.stdin.pop(call_id, None)
        if process is not None:  # a write_stdin poll: itself done; maybe its process too
            if exit_code is not None and process in st.running:
                exec_id = st.running.pop(process)
                out.append(
                    ToolResult(self._sid, exec_id, ln.ts, _by_exit(exit_code), None, exit_code)
                )
            failed = status == "error" and exit_code is None  # "write_stdin failed: …"
            out.append(ToolResult(self._sid, call_id, ln.ts, "error" if failed else "success"))
            return
        if status is None:  # still running: its exit code comes later
            if running is not None:
                self._remember(st.running, running, call_id)
            return
        out.append(ToolResult(self._sid, call_id, ln.ts, status, duration, exit_code))

    def _exec_end(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """The best completion of a command (quirk 16: present only in some versions/modes)."""
        call_id = _call_id(p)
        code = _int(p.get("exit_code"))
        if code is not None:
            status = _by_exit(code)
        else:
            status = "error" if p.get("status") == "failed" else "success"
        duration = _duration_ms(p)
        process = str(p.get("process_id"))
        if call_id is not None and self._st.running.get(process) == call_id:
            del self._st.running[process]  # ended: no write_stdin needs to report it
        if p.get("source") != "user_shell":
            if call_id is not None:
                out.append(ToolResult(self._sid, call_id, ln.ts, status, duration, code))
            return
        # Typed by the user (``!cmd``): no call line exists, so the end is the whole command.
        shown = _shown_command(p.get("command"))
        if shown is not None:
            out.append(
                self._event(
                    ln,
                    "command",
                    tool_name="user_shell",
                    tool_call_id=call_id,
                    command=clean_text(shown[0]),
                    command_category=_category(shown),
                    status=status,
                    duration_ms=duration,
                    exit_code=code,
                )
            )

    def _patch_end(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``success`` of an ``apply_patch``; its file list is already known from the call."""
        call_id = _call_id(p)
        if call_id is None:
            return
        success = p.get("success")
        ok = success if isinstance(success, bool) else p.get("status") != "failed"
        out.append(ToolResult(self._sid, call_id, ln.ts, "success" if ok else "error"))

    def _mcp_end(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """An MCP call's duration and whether it returned an error."""
        call_id = _call_id(p)
        if call_id is None:
            return
        result = p.get("result")
        failed = isinstance(result, dict) and (
            "Err" in result
            or (isinstance(result.get("Ok"), dict) and result["Ok"].get("isError") is True)
        )
        out.append(
            ToolResult(self._sid, call_id, ln.ts, "error" if failed else "success", _duration_ms(p))
        )

    def _dynamic_end(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """A dynamic (client-provided) tool's success and duration."""
        call_id = _call_id(p)
        if call_id is None:
            return
        status = "error" if p.get("success") is False else "success"
        out.append(ToolResult(self._sid, call_id, ln.ts, status, _duration_ms(p)))

    # -- messages, turns, errors -------------------------------------------------------------

    def _event_message(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``user_message`` (the human prompt) / ``agent_message``."""
        role = "user" if p.get("type") == "user_message" else "assistant"
        text = p.get("message")
        self._message(role, text if isinstance(text, str) else "", "event", ln, out)

    def _item_message(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """A ``message`` response item: the mirror of an event, or the only copy."""
        role = p.get("role")
        if role not in ("user", "assistant"):
            return  # developer / system scaffolding
        text = _content_text(p.get("content"))
        if role == "user" and _is_injected(text):
            return
        self._message(role, text, "item", ln, out)

    def _message(self, role: str, text: str, copy: str, ln: _Line, out: list[Record]) -> None:
        """Emit unless this is the other copy (event vs response item) of the last message."""
        digest = _digest(text)
        other = "item" if copy == "event" else "event"
        if self._st.mirror.get(role) == f"{other}:{digest}":
            del self._st.mirror[role]  # pair used up: a repeated message counts again
            return
        self._st.mirror[role] = f"{copy}:{digest}"
        args = orjson.dumps({"role": role, "chars": len(text)}).decode()
        out.append(
            self._event(
                ln, "message", tool_arguments=args, raw_data=cap_json(ln.obj, self._raw_cap),
                model=self._st.model, preview=preview(text, self._preview),
            )
        )  # fmt: skip
        if role == "user" and not (self._st.title or self._st.titled or "title" in self._new):
            title = title_from_prompt(text)
            if title is not None:
                self._st.titled = True
                self._new["title"], self._new["title_fallback"] = title, True

    def _turn(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``task_started`` / ``task_complete`` (with the turn's ``duration_ms`` when recorded)."""
        done = p.get("type") == "task_complete"
        args: dict[str, Any] = {"phase": "complete" if done else "started"}
        for key in ("turn_id", "time_to_first_token_ms", "model_context_window"):
            if p.get(key) is not None:
                args[key] = p[key]
        if done and p.get("error") is not None:
            args["error"] = True
        duration = _int(p.get("duration_ms")) if done else None
        out.append(self._event(ln, "turn", tool_arguments=self._args(args), duration_ms=duration))

    def _error(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """``error``, ``stream_error`` and ``turn_aborted``; the capped line goes to raw_data."""
        args = {k: p[k] for k in ("type", "message", "reason", "codex_error_info") if k in p}
        out.append(
            self._event(
                ln,
                "error",
                tool_arguments=self._args(args),
                duration_ms=_int(p.get("duration_ms")),
                raw_data=cap_json(ln.obj, self._raw_cap),
            )
        )

    def _compacted(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """A context compaction (the ``compacted`` line; ``context_compacted`` is its echo)."""
        history = p.get("replacement_history")
        args = {"replacement_items": len(history)} if isinstance(history, list) else {}
        out.append(self._event(ln, "compaction", tool_arguments=self._args(args)))

    # -- tokens ------------------------------------------------------------------------------

    def _token_count(self, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        """One ``usage`` event per new cumulative total, carrying the delta (§2.7)."""
        info = p.get("info")
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if not isinstance(total, dict):
            return  # info: null (rate limits only)
        current = _totals(total)
        st = self._st
        before = st.tokens or _NO_TOKENS
        if current == before:
            return  # a re-emit of the same totals
        st.tokens = current
        if st.replay:
            return  # a fork's copy of the parent's totals: baseline only
        if any(map(operator.lt, current, before)):
            before = _NO_TOKENS  # the counters restarted
        d_in, d_cached, d_write, d_out, d_reason, _ = map(operator.sub, current, before)
        has_write = total.get("cache_write_input_tokens") is not None
        out.append(
            Event(
                self._sid,
                f"usage:{current[5]}:{current[0]}:{current[1]}:{current[3]}",
                ln.ts,
                "usage",
                tool_arguments=f'{{"reasoning_output_tokens":{d_reason}}}' if d_reason else None,
                model=st.model,
                reasoning_tokens=d_reason or None,  # a part of output_tokens, as OpenAI bills
                input_tokens=max(0, d_in - d_cached - d_write),
                output_tokens=d_out,
                cache_read_tokens=d_cached,
                cache_creation_tokens=d_write if has_write else None,
                source_offset=ln.offset,
            )
        )

    # -- helpers -----------------------------------------------------------------------------

    def _event(self, ln: _Line, event_type: str, n: int = 0, **fields: Any) -> Event:
        """An event keyed by this line's offset (``#n`` for its n-th extra record)."""
        key = str(ln.offset) if n == 0 else f"{ln.offset}#{n}"
        return Event(self._sid, key, ln.ts, event_type, source_offset=ln.offset, **fields)

    def _call_event(
        self,
        ln: _Line,
        event_type: str,
        call: _Call,
        arguments: str | None,
        n: int = 0,
        **fields: Any,
    ) -> Event:
        """A pending event of ``call``: its tool name, id and capped arguments (built here, not
        through ``_event``: one call less for every tool call of every rollout)."""
        key = str(ln.offset) if n == 0 else f"{ln.offset}#{n}"
        return Event(
            self._sid, key, ln.ts, event_type, tool_name=call.name, tool_call_id=call.call_id,
            tool_arguments=arguments, status="pending", source_offset=ln.offset, **fields,
        )  # fmt: skip

    def _args(self, value: Any) -> str | None:
        """Capped JSON text for ``tool_arguments``."""
        return None if value is None else cap_json(value, self._args_cap)

    @staticmethod
    def _remember(table: dict[str, str], key: str, value: str) -> None:
        """Insert into a bounded map, dropping the oldest entries beyond ``_MAX_REMEMBERED``."""
        table.pop(key, None)
        table[key] = value
        while len(table) > _MAX_REMEMBERED:
            del table[next(iter(table))]


_Handler = Callable[[CodexParser, dict[str, Any], _Line, list[Record]], None]

_RESPONSE_ITEMS: dict[str, _Handler] = {
    "function_call": CodexParser._function_call,
    "custom_tool_call": CodexParser._function_call,
    "local_shell_call": CodexParser._local_shell_call,
    "function_call_output": CodexParser._call_output,
    "custom_tool_call_output": CodexParser._call_output,
    "tool_search_output": CodexParser._call_output,
    "web_search_call": CodexParser._other_call,
    "tool_search_call": CodexParser._other_call,
    "image_generation_call": CodexParser._other_call,
    "message": CodexParser._item_message,
}
_EVENT_MSGS: dict[str, _Handler] = {
    "user_message": CodexParser._event_message,
    "agent_message": CodexParser._event_message,
    "token_count": CodexParser._token_count,
    "exec_command_end": CodexParser._exec_end,
    "patch_apply_end": CodexParser._patch_end,
    "mcp_tool_call_end": CodexParser._mcp_end,
    "dynamic_tool_call_response": CodexParser._dynamic_end,
    "task_started": CodexParser._turn,
    "task_complete": CodexParser._turn,
    "error": CodexParser._error,
    "stream_error": CodexParser._error,
    "turn_aborted": CodexParser._error,
    "thread_name_updated": CodexParser._thread_name,
}


def _by_type(table: dict[str, _Handler]) -> _Handler:
    """A handler that dispatches on ``payload.type`` through ``table``."""

    def dispatch(parser: CodexParser, p: dict[str, Any], ln: _Line, out: list[Record]) -> None:
        kind = p.get("type")
        handler = table.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(parser, p, ln, out)

    return dispatch


_HANDLERS: dict[str, _Handler] = {
    "session_meta": CodexParser._session_meta,
    "turn_context": CodexParser._turn_context,
    "compacted": CodexParser._compacted,
    "response_item": _by_type(_RESPONSE_ITEMS),
    "event_msg": _by_type(_EVENT_MSGS),
}


# -- pure helpers ---------------------------------------------------------------------------


def _legacy(obj: dict[str, Any]) -> tuple[str | None, Any]:
    """(kind, payload) of a pre-Sept-2025 line, which has no ``type/payload`` envelope."""
    kind = obj.get("type")
    if isinstance(kind, str) and kind in _RESPONSE_ITEMS:
        return "response_item", obj
    if kind is None and "id" in obj and "timestamp" in obj:
        return "session_meta", obj
    return None, None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    """An integer SQLite can hold, from an int or integral float; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():  # also NaN and ±inf
            return None
        value = int(value)
    if isinstance(value, int) and -_INT_LIMIT < value < _INT_LIMIT:
        return value
    return None


def _ms(seconds: object) -> int | None:
    """Seconds (int or float) as whole milliseconds, when finite and non-negative."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not 0 <= seconds < _INT_LIMIT / 1000:  # False for NaN too
        return None
    return round(seconds * 1000)


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _tokens(value: object) -> tuple[int, ...] | None:
    """A restored token baseline: one non-negative integer per ``_TOKEN_KEYS`` entry."""
    if not isinstance(value, list) or len(value) != len(_TOKEN_KEYS):
        return None
    ints = [_int(v) for v in value]
    clean = tuple(v for v in ints if v is not None and v >= 0)
    return clean if len(clean) == len(_TOKEN_KEYS) else None


def _totals(total: dict[str, Any]) -> tuple[int, ...]:
    """The cumulative counters of a ``total_token_usage`` (missing or bad values count 0)."""
    values = [_count(total.get(key)) for key in _TOKEN_KEYS]
    if values[5] == 0:  # total_tokens missing: input (cached included) + output
        values[5] = values[0] + values[3]
    return tuple(values)


def _count(value: object) -> int:
    if type(value) is int and 0 <= value < _INT_LIMIT:
        return value
    number = _int(value)
    return number if number is not None and number >= 0 else 0


def _epoch_ms(ts: str) -> int | None:
    """Milliseconds since the epoch of a contract-form timestamp."""
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None


def _digest(text: str) -> str:
    data = text.strip().encode("utf-8", "surrogatepass")
    return blake2b(data, digest_size=8).hexdigest()


def _call_id(p: dict[str, Any]) -> str | None:
    value = p.get("call_id")
    if not isinstance(value, str) or not value:
        value = p.get("callId") if isinstance(p.get("callId"), str) else p.get("id")
    return clean_text(value) if isinstance(value, str) and value else None


def _tool_name(p: dict[str, Any]) -> str:
    """The function name, prefixed by its namespace (MCP tools: ``mcp__server__tool``)."""
    name = p.get("name")
    name = clean_text(name) if isinstance(name, str) and name else str(p.get("type"))
    namespace = p.get("namespace")
    if isinstance(namespace, str) and namespace:
        sep = "" if namespace.endswith(("__", ".")) else "."
        return f"{clean_text(namespace)}{sep}{name}"
    return name


def _parent_thread(p: dict[str, Any]) -> str | None:
    """The thread this one was spawned by or forked from, where the meta records it."""
    source = p.get("source")
    sub = source.get("subagent") if isinstance(source, dict) else None
    spawn = sub.get("thread_spawn") if isinstance(sub, dict) else None
    for value in (
        spawn.get("parent_thread_id") if isinstance(spawn, dict) else None,
        p.get("parent_thread_id"),
        p.get("forked_from_id"),
    ):
        if isinstance(value, str) and value:
            return clean_text(value)
    return None


def _decode_args(raw: Any) -> Any:
    """Tool arguments: a JSON string decoded (twice when double-encoded, quirk 20)."""
    for _ in range(2):
        if not isinstance(raw, str) or raw.lstrip()[:1] not in ("{", "[", '"'):
            return raw
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
    return raw


def _workdir(args: Any) -> str | None:
    if not isinstance(args, dict):
        return None
    value = args.get("workdir", args.get("cwd"))
    return clean_text(value) if isinstance(value, str) and value.startswith("/") else None


def _shown_command(cmd: object) -> tuple[str, str | None, list[str] | None] | None:
    """(display text, unwrapped ``bash -lc`` script or None, argv or None) of a command."""
    if isinstance(cmd, str):
        return (cmd, None, None) if cmd else None
    if not isinstance(cmd, list) or not cmd:
        return None
    argv = [c if isinstance(c, str) else str(c) for c in cmd]
    if len(argv) >= 3 and argv[0].rpartition("/")[2] in _SHELLS and argv[1] in _SHELL_FLAGS:
        return argv[2], argv[2], argv
    return shlex.join(argv), None, argv


def _category(shown: tuple[str, str | None, list[str] | None]) -> str:
    text, script, argv = shown
    if script is not None:
        return categorize_command(script)
    if argv is not None:
        return categorize_argv(argv)
    return categorize_command(text)


def _shell_patch(argv: list[str] | None, text: str) -> str | None:
    """The patch text when a shell call runs ``apply_patch`` (argv form or a heredoc)."""
    if argv and argv[0] in _PATCH_TOOLS and len(argv) >= 2:
        return argv[1]
    head = text.lstrip()
    if head.startswith(tuple(_PATCH_TOOLS)) and _PATCH_START in text:
        return text[text.index(_PATCH_START) :]
    return None


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        part["text"]
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def _is_injected(text: str) -> bool:
    """Codex's own scaffolding sent as a user message (quirk 17), not a human prompt."""
    head = text.lstrip()
    return head.startswith(_INJECTED_PREFIXES) or _WRAPPED.match(head) is not None


def _by_exit(code: int) -> str:
    return "success" if code == 0 else "error"


def _duration_ms(p: dict[str, Any]) -> int | None:
    """``duration {secs, nanos}`` or ``duration_ms`` in milliseconds."""
    ms = _int(p.get("duration_ms"))
    if ms is not None:
        return ms
    duration = p.get("duration")
    if isinstance(duration, dict):
        secs, nanos = _int(duration.get("secs")), _int(duration.get("nanos"))
        if secs is not None and 0 <= secs < _INT_LIMIT // 2000:
            return secs * 1000 + max(0, min(nanos or 0, 999_999_999)) // 1_000_000
    return None


_Outcome = tuple[str | None, int | None, int | None, str | None]


def _outcome(output: object) -> _Outcome:
    """(status, exit code, duration ms, running process id) read from a tool's output.

    Status None means the command is still running. The output is a JSON string
    ``{"output", "metadata": {exit_code, duration_seconds}}`` (shell era), unified-exec text
    ("Process exited with code N"), a structured value, or plain text.
    """
    value = _decode_args(output) if isinstance(output, str) else output
    if isinstance(value, dict):
        return _structured_outcome(value)
    if isinstance(value, list):
        return "success", None, None, None
    if isinstance(value, str):
        return _text_outcome(value)
    return "success", None, None, None


def _structured_outcome(value: dict[str, Any]) -> _Outcome:
    meta = value.get("metadata")
    meta = meta if isinstance(meta, dict) else value
    code = _int(meta.get("exit_code"))
    duration = _ms(meta.get("duration_seconds"))
    if code is not None:
        return _by_exit(code), code, duration, None
    if value.get("success") is False or value.get("isError") is True:
        return "error", None, duration, None
    text = value.get("output", value.get("content"))
    if isinstance(text, str):
        status, code, wall, running = _text_outcome(text)
        return status, code, duration if duration is not None else wall, running
    return "success", None, duration, None


def _text_outcome(text: str) -> _Outcome:
    head = text[:_HEAD]
    exited = _EXITED.search(head)
    if exited is not None:
        code = int(exited[1])
        return _by_exit(code), code, None, None
    running = _RUNNING.search(head)
    if running is not None:
        return None, None, None, running[1]
    wall = _WALL.search(head)
    duration = _ms(float(wall[1])) if wall is not None else None
    if _FAILED.match(head) is not None:
        return "error", None, duration, None
    return "success", None, duration, None
