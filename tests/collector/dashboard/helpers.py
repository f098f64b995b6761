"""Helpers for the dashboard tests: the real command as a subprocess, SSE reading, Claude lines."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tests.collector.service.daemon_harness import FIXTURES, Instance

PROJECT = Path(__file__).resolve().parents[3]
SCREENSHOTS = PROJECT / "build" / "dashboard-screenshots"
XSS = "<img src=x onerror=\"document.title='pwned'\">"


def fill_home(instance: Instance) -> None:
    """Every fixture transcript of the four agents, placed where each agent writes them."""
    places = {
        "claude": instance.claude / "-work-demo",
        "codex": instance.codex / "2026" / "01" / "02",
        "copilot": instance.home / ".copilot" / "session-state",
        "gemini": instance.home / ".gemini" / "tmp" / "demo" / "chats",
    }
    for agent, target in places.items():
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted((FIXTURES / agent).glob("*.json*")):
            shutil.copy(path, target / path.name)


class Dashboard:
    """``agent-viz-monitor dashboard`` running as a subprocess on a free port."""

    def __init__(self, instance: Instance, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "dashboard", "--port", "0", *args],
            env=instance.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r"http://(\S+?):(\d+)/(\S*)", line)
        if found is None:
            self.proc.kill()
            raise AssertionError(f"no URL printed: {line!r} {self.proc.communicate()[1]}")
        self.host, self.port = found[1], int(found[2])
        self.base = f"http://{self.host}:{self.port}"
        self.url = found[0]

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, decoded JSON or text, headers) of a GET."""
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body, status, head = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            body, status, head = exc.read(), exc.code, dict(exc.headers)
            exc.close()
        if head.get("content-type", "").startswith("application/json"):
            return status, orjson.loads(body), head
        return status, body.decode(errors="replace"), head

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body)
        return body

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(15)
        finally:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe:
                    pipe.close()


class SSE:
    """A streaming GET of ``/api/events/stream`` read message by message."""

    def __init__(self, dash: Dashboard, query: str = "", last_id: int | None = None) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        request = urllib.request.Request(f"{dash.base}/api/events/stream{query}", headers=headers)
        self.response = urllib.request.urlopen(request, timeout=30)

    def messages(self) -> Iterator[dict[str, str]]:
        """Each message's fields (``event``, ``id``, ``data``); comments are skipped."""
        fields: dict[str, str] = {}
        for raw in self.response:
            line = raw.decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    yield fields
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value

    def take(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """The next ``count`` messages (AssertionError when they do not come in time)."""
        out: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        for message in self.messages():
            out.append(message)
            if len(out) == count or time.monotonic() > deadline:
                break
        assert len(out) == count, out
        return out

    def close(self) -> None:
        self.response.close()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ClaudeSession:
    """Valid Claude Code lines for one live session: a Bash call and its result."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session = str(uuid.uuid4())
        self.parent: str | None = None

    def _line(self, obj: dict[str, Any]) -> bytes:
        line_uuid = str(uuid.uuid4())
        obj.update(parentUuid=self.parent, sessionId=self.session, uuid=line_uuid,
                   timestamp=_stamp(), cwd="/tmp/live-project", version="2.1.14",
                   gitBranch="main", isSidechain=False, userType="external")  # fmt: skip
        self.parent = line_uuid
        return orjson.dumps(obj) + b"\n"

    def call(self, command: str) -> tuple[str, bytes]:
        call_id = f"toolu_{uuid.uuid4().hex[:20]}"
        block = {"type": "tool_use", "id": call_id, "name": "Bash",
                 "input": {"command": command, "description": "test"}}  # fmt: skip
        message = {"id": f"msg_{uuid.uuid4().hex}", "role": "assistant", "type": "message",
                   "model": "claude-sonnet-4-20250514", "content": [block],
                   "usage": {"input_tokens": 10, "output_tokens": 5}}  # fmt: skip
        return call_id, self._line({"type": "assistant", "message": message,
                                    "requestId": f"req_{uuid.uuid4().hex}"})  # fmt: skip

    def result(self, call_id: str, output: str = "ok") -> bytes:
        block = {"type": "tool_result", "tool_use_id": call_id, "content": output}
        return self._line({"type": "user", "message": {"role": "user", "content": [block]},
                           "toolUseResult": {"stdout": output, "stderr": "",
                                             "interrupted": False}})  # fmt: skip

    def append(self, *lines: bytes) -> None:
        with self.path.open("ab") as handle:
            for line in lines:
                handle.write(line)
                handle.flush()
