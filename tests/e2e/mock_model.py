"""A mock model server for the real agent CLIs: Anthropic Messages, OpenAI Responses and Gemini.

One ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port. Every agent gets the same script:

- a request that offers tools and has no tool result in its conversation yet is answered with
  ONE shell tool call (the agent's own shell tool, with ``Script.command``), after
  ``Script.call_delay`` seconds;
- a request whose conversation holds the tool result is answered with final text
  (``Script.answer``), after ``Script.answer_delay`` seconds;
- a request without tools gets plain text (Claude's title request gets ``{"title": …}``, the
  Gemini router gets its ``complexity_score`` JSON).

Every response carries distinctive usage numbers (``usage_for``), recorded in ``Reply`` with
what was answered, so a test compares the stored tokens with what the model really sent.
Streaming follows each API's server-sent events: Anthropic ``message_start`` …
``message_stop``; OpenAI ``response.created`` … ``response.completed``; Gemini ``data:`` chunks
of ``GenerateContentResponse``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MockModel", "Reply", "Script", "Usage"]

# The shell tool of each agent, and how its arguments are spelled.
_SHELL_TOOLS = {
    "Bash": lambda cmd: {"command": cmd, "description": "Run the requested command"},
    "exec_command": lambda cmd: {"cmd": cmd},
    "shell": lambda cmd: {"command": ["bash", "-lc", cmd]},
    "run_shell_command": lambda cmd: {"command": cmd, "description": "Run the command"},
    "bash": lambda cmd: {"command": cmd, "description": "Run the command"},
}


@dataclass(frozen=True, slots=True)
class Usage:
    """What one response said it used (names as our store means them)."""

    input: int
    output: int
    cache_read: int
    cache_creation: int
    reasoning: int


@dataclass(slots=True)
class Reply:
    """One answered request: which API, what kind of answer, the usage sent, and when."""

    api: str  # anthropic | openai | gemini
    kind: str  # tool_call | final | text | title | router
    usage: Usage
    started: float
    sent: float = 0.0
    tool_call_id: str | None = None


@dataclass(slots=True)
class Script:
    """What the mock answers; a test may change it between turns."""

    command: str = "echo mock-ok"
    call_delay: float = 0.0
    answer_delay: float = 0.0
    answer: str = "All done: the command ran."
    title: str = "Mock session title"


@dataclass(slots=True)
class _State:
    script: Script
    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def usage_for(n: int, kind: str) -> Usage:
    """Distinctive numbers for the n-th response: nothing an agent would invent itself."""
    base = 1000 * n + (300 if kind == "tool_call" else 500)
    return Usage(input=base + 11, output=40 + 3 * n + (7 if kind == "final" else 0),
                 cache_read=base + 222, cache_creation=100 + n, reasoning=5 + n)  # fmt: skip


class MockModel:
    """The server; ``start()``, ``url``, ``replies``, ``close()`` (idempotent)."""

    def __init__(self, script: Script | None = None) -> None:
        self.state = _State(script or Script())
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-model",
                                        daemon=True)  # fmt: skip
        self._closed = False

    @property
    def script(self) -> Script:
        return self.state.script

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MockModel:
        self._thread.start()
        return self

    def replies(self, kind: str | None = None) -> list[Reply]:
        with self.state.lock:
            return [r for r in self.state.replies if kind is None or r.kind == kind]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests assert on replies, not on an access log

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._json({"data": [], "object": "list", "models": []})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0]
        if path.endswith("/messages") and "count_tokens" not in path:
            self._anthropic(body)
        elif path.endswith("/messages/count_tokens"):
            self._json({"input_tokens": 100})
        elif path.endswith("/responses"):
            self._openai(body)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            self._gemini(body, stream=":streamGenerateContent" in path)
        elif ":countTokens" in path:
            self._json({"totalTokens": 100})
        else:
            self._json({"error": {"message": f"mock: no route {path}"}}, status=404)

    # -- plumbing --------------------------------------------------------------------------------

    def _reply(self, api: str, kind: str) -> Reply:
        state = self.state
        with state.lock:
            n = next(state.counter)
            reply = Reply(api, kind, usage_for(n, kind), time.time())
            state.replies.append(reply)
        delay = {"tool_call": state.script.call_delay, "final": state.script.answer_delay}
        if delay.get(kind):
            time.sleep(delay[kind])
        reply.sent = time.time()
        return reply

    def _json(self, value: Any, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, dict[str, Any]]]) -> None:
        chunks = []
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            chunks.append(f"{head}data: {json.dumps(data)}\n\n".encode())
        payload = b"".join(chunks)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    # -- the three APIs ------------------------------------------------------------------------

    def _anthropic(self, body: dict[str, Any]) -> None:
        tools = [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
        kind, shell = _decide(tools, _anthropic_has_result(body))
        if kind == "text" and "title" in json.dumps(body.get("system", "")).lower():
            kind = "title"
        reply = self._reply("anthropic", kind)
        if shell is not None:
            reply.tool_call_id = f"toolu_mock{reply.started * 1000:.0f}"
        block, delta, stop = _anthropic_block(kind, shell, self.state.script, reply.tool_call_id)
        message = _anthropic_message(reply, str(body.get("model") or "claude-mock"))
        if body.get("stream"):
            self._sse(_anthropic_stream(message, block, delta, stop, reply.usage))
        else:
            self._json(_anthropic_whole(message, block, delta, stop, reply.usage))

    def _openai(self, body: dict[str, Any]) -> None:
        tools = [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
        kind, shell = _decide(tools, _openai_has_result(body))
        reply = self._reply("openai", kind)
        rid = f"resp_mock{reply.started * 1000:.0f}"
        if shell is not None:
            reply.tool_call_id = f"call_mock{reply.started * 1000:.0f}"
        item, added, middle = _openai_item(kind, shell, self.state.script, rid, reply.tool_call_id)
        head = {
            "id": rid,
            "object": "response",
            "created_at": int(reply.started),
            "status": "in_progress",
            "model": body.get("model") or "gpt-mock",
            "output": [],
        }
        self._sse(_openai_stream(head, item, added, middle, reply.usage))

    def _gemini(self, body: dict[str, Any], *, stream: bool) -> None:
        tools = [d.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)
                 for d in t.get("functionDeclarations") or [] if isinstance(d, dict)]  # fmt: skip
        kind, shell = _decide(tools, _gemini_has_result(body))
        config = body.get("generationConfig") or {}
        if kind == "text" and "json" in str(config.get("responseMimeType", "")):
            kind = "router"
        reply = self._reply("gemini", kind)  # Gemini CLI names its calls itself
        answer = _gemini_answer(_gemini_part(kind, shell, self.state.script), reply.usage)
        if stream:
            self._sse([(None, answer)])
        else:
            self._json(answer)


Events = list[tuple[str | None, dict[str, Any]]]


def _decide(tools: list[str], has_result: bool) -> tuple[str, str | None]:
    """(kind, shell tool name): a call when a shell tool is offered and nothing ran yet."""
    shell = next((t for t in _SHELL_TOOLS if t in tools), None)
    if shell is not None and not has_result:
        return "tool_call", shell
    return ("final" if shell is not None or has_result else "text"), None


def _text(kind: str, script: Script) -> str:
    if kind == "title":  # Claude Code's tool-less title request wants JSON
        return json.dumps({"title": script.title})
    return script.answer if kind == "final" else "Mock text."


# -- Anthropic Messages: message_start, one content block, message_delta (usage), message_stop


def _anthropic_block(
    kind: str, shell: str | None, script: Script, call_id: str | None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(content_block_start block, its one delta, stop reason)."""
    if shell is not None:
        block = {"type": "tool_use", "id": call_id, "name": shell, "input": {}}
        arguments = json.dumps(_SHELL_TOOLS[shell](script.command))
        return block, {"type": "input_json_delta", "partial_json": arguments}, "tool_use"
    delta = {"type": "text_delta", "text": _text(kind, script)}
    return {"type": "text", "text": ""}, delta, "end_turn"


def _anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
    u = reply.usage
    usage = {"input_tokens": u.input, "cache_creation_input_tokens": u.cache_creation,
             "cache_read_input_tokens": u.cache_read, "output_tokens": 1}  # fmt: skip
    return {"id": f"msg_mock{reply.started * 1000:.0f}", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": usage}  # fmt: skip


def _anthropic_stream(message: dict[str, Any], block: dict[str, Any], delta: dict[str, Any],
                      stop: str, usage: Usage) -> Events:  # fmt: skip
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": block}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": {"output_tokens": usage.output}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


def _anthropic_whole(message: dict[str, Any], block: dict[str, Any], delta: dict[str, Any],
                     stop: str, usage: Usage) -> dict[str, Any]:  # fmt: skip
    done = dict(block)
    if block["type"] == "tool_use":
        done["input"] = json.loads(delta["partial_json"])
    else:
        done["text"] = delta["text"]
    return {**message, "content": [done], "stop_reason": stop,
            "usage": {**message["usage"], "output_tokens": usage.output}}  # fmt: skip


# -- OpenAI Responses: created, output_item.added, (text delta), output_item.done, completed


def _openai_item(
    kind: str, shell: str | None, script: Script, rid: str, call_id: str | None
) -> tuple[dict[str, Any], dict[str, Any], Events]:
    """(the finished output item, the same as first announced, the events between)."""
    if shell is not None:
        arguments = json.dumps(_SHELL_TOOLS[shell](script.command))
        item = {"type": "function_call", "id": f"fc_{rid}", "call_id": call_id, "name": shell,
                "arguments": arguments, "status": "completed"}  # fmt: skip
        return item, {**item, "arguments": "", "status": "in_progress"}, []
    text = _text(kind, script)
    item = {"type": "message", "id": f"msg_{rid}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip
    delta = {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
             "content_index": 0, "delta": text}  # fmt: skip
    added = {**item, "content": [], "status": "in_progress"}
    return item, added, [("response.output_text.delta", delta)]


def _openai_stream(head: dict[str, Any], item: dict[str, Any], added: dict[str, Any],
                   middle: Events, u: Usage) -> Events:  # fmt: skip
    usage = {"input_tokens": u.input + u.cache_read,
             "input_tokens_details": {"cached_tokens": u.cache_read},
             "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": u.reasoning},
             "total_tokens": u.input + u.cache_read + u.output}  # fmt: skip
    done = {**head, "status": "completed", "output": [item], "usage": usage}
    return [
        ("response.created", {"type": "response.created", "response": head}),
        ("response.in_progress", {"type": "response.in_progress", "response": head}),
        ("response.output_item.added", {"type": "response.output_item.added",
                                        "output_index": 0, "item": added}),
        *middle,
        ("response.output_item.done", {"type": "response.output_item.done",
                                       "output_index": 0, "item": item}),
        ("response.completed", {"type": "response.completed", "response": done}),
    ]  # fmt: skip


# -- Gemini: one GenerateContentResponse (a single server-sent event when streamed)


def _gemini_part(kind: str, shell: str | None, script: Script) -> dict[str, Any]:
    if shell is not None:
        return {"functionCall": {"name": shell, "args": _SHELL_TOOLS[shell](script.command)}}
    if kind == "router":  # the model router's JSON answer
        return {"text": json.dumps({"reasoning": "mock router: simple task",
                                    "complexity_reasoning": "mock", "complexity_score": 10,
                                    "model_choice": "flash"})}  # fmt: skip
    return {"text": _text(kind, script)}


def _gemini_answer(part: dict[str, Any], u: Usage) -> dict[str, Any]:
    total = u.input + u.cache_read + u.output + u.reasoning
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP",
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": u.input + u.cache_read,
                          "cachedContentTokenCount": u.cache_read,
                          "candidatesTokenCount": u.output, "thoughtsTokenCount": u.reasoning,
                          "totalTokenCount": total},
        "modelVersion": "gemini-mock",
    }  # fmt: skip


def _anthropic_has_result(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            return True
    return False


def _openai_has_result(body: dict[str, Any]) -> bool:
    items = body.get("input")
    return isinstance(items, list) and any(
        isinstance(i, dict) and str(i.get("type", "")).endswith("_call_output") for i in items
    )


def _gemini_has_result(body: dict[str, Any]) -> bool:
    for content in body.get("contents") or []:
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list) and any(
            isinstance(p, dict) and "functionResponse" in p for p in parts
        ):
            return True
    return False
