"""Stand-in agents and transcript lines for the tracker's tests (real processes, real files)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STAND_IN = Path(__file__).with_name("stand_in.py")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StandIn:
    """A real process whose argv[0] is ``agent`` (so the tracker's argv rule sees an agent)."""

    def __init__(
        self,
        agent: str,
        cwd: Path,
        transcript: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        args = [agent, str(STAND_IN), *([str(transcript)] if transcript else [])]
        self.proc = subprocess.Popen(
            args, executable=sys.executable, cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self._read() == b"ready\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def _send(self, data: bytes, ack: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        assert self._read() == ack

    def write(self, *lines: bytes) -> None:
        """Append each line to the transcript, as the agent."""
        for line in lines:
            self._send(line, b"written\n")

    def hook(self, payload: dict[str, Any]) -> None:
        """Run the hook command as Claude Code does: ``sh -c``, JSON on stdin."""
        self._send(b"!hook " + json.dumps(payload).encode() + b"\n", b"hooked\n")

    def finish(self, timeout: float = 10) -> int:
        """Close stdin: the stand-in exits 0."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def claude_slug(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


class ClaudeTranscript:
    """Lines of a Claude Code transcript for a session run in ``project``, stamped now."""

    def __init__(self, claude_root: Path, project: Path, session_id: str | None = None) -> None:
        self.session_id = session_id or str(uuid.uuid4())
        self.project = project
        self.path = claude_root / claude_slug(project) / f"{self.session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = f"claude-code:{self.session_id}"
        self._parent: str | None = None

    def _line(self, kind: str, **fields: Any) -> bytes:
        uid = str(uuid.uuid4())
        obj = {
            "parentUuid": self._parent, "isSidechain": False, "userType": "external",
            "cwd": str(self.project), "sessionId": self.session_id, "version": "2.1.14",
            "gitBranch": "", "type": kind, "uuid": uid, "timestamp": now_iso(), **fields,
        }  # fmt: skip
        self._parent = uid
        return json.dumps(obj).encode() + b"\n"

    def prompt(self, text: str = "please do the thing") -> bytes:
        return self._line("user", message={"role": "user", "content": text})

    def interrupted(self) -> bytes:
        content = [{"type": "text", "text": "[Request interrupted by user]"}]
        return self._line("user", message={"role": "user", "content": content})

    def tool_use(self, call_id: str, command: str = "sleep 1000") -> bytes:
        block = {"type": "tool_use", "id": call_id, "name": "Bash", "input": {"command": command}}
        message = {"model": "claude-test", "id": f"msg_{call_id}", "type": "message",
                   "role": "assistant", "content": [block], "stop_reason": None}  # fmt: skip
        return self._line("assistant", message=message)

    def tool_result(self, call_id: str) -> bytes:
        block = {"tool_use_id": call_id, "type": "tool_result", "content": "ok"}
        return self._line("user", message={"role": "user", "content": [block]})

    def answer(self, text: str = "All done.") -> bytes:
        message = {"model": "claude-test", "id": f"msg_{uuid.uuid4().hex}", "type": "message",
                   "role": "assistant", "content": [{"type": "text", "text": text}],
                   "stop_reason": "end_turn"}  # fmt: skip
        return self._line("assistant", message=message)

    def turn_end(self, ms: int = 1500) -> bytes:
        return self._line("system", subtype="turn_duration", durationMs=ms, isMeta=False)

    def hook_payload(self, event: str, **extra: Any) -> dict[str, Any]:
        return {"session_id": self.session_id, "transcript_path": str(self.path),
                "cwd": str(self.project), "hook_event_name": event,
                "permission_mode": "default", **extra}  # fmt: skip


class ClaudeSubagent(ClaudeTranscript):
    """A subagent transcript of ``parent`` (≥ 2.1.2 layout: ``<session>/subagents/``)."""

    def __init__(self, parent: ClaudeTranscript, agent_id: str) -> None:
        super().__init__(parent.path.parent.parent, parent.project, parent.session_id)
        self.path = parent.path.with_suffix("") / "subagents" / f"agent-{agent_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = f"{parent.key}/agent-{agent_id}"
        self.agent_id = agent_id

    def _line(self, kind: str, **fields: Any) -> bytes:
        return super()._line(kind, isSidechain=True, agentId=self.agent_id, **fields)


class CodexTranscript:
    """Lines of a Codex rollout file for a session run in ``project``, stamped now."""

    def __init__(self, codex_root: Path, project: Path) -> None:
        self.session_id = str(uuid.uuid4())
        now = datetime.now()
        folder = codex_root / now.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"rollout-{now.strftime('%Y-%m-%dT%H-%M-%S')}-{self.session_id}.jsonl"
        self.key = f"codex:{self.session_id}"
        self.project = project

    def _line(self, kind: str, payload: dict[str, Any]) -> bytes:
        return (
            json.dumps({"timestamp": now_iso(), "type": kind, "payload": payload}).encode() + b"\n"
        )

    def meta(self) -> bytes:
        return self._line("session_meta", {"id": self.session_id, "timestamp": now_iso(),
                                           "cwd": str(self.project), "originator": "codex_cli_rs",
                                           "cli_version": "0.77.0"})  # fmt: skip

    def turn_started(self) -> bytes:
        return self._line("event_msg", {"type": "task_started", "turn_id": "t1"})

    def prompt(self, text: str = "fix the bug") -> bytes:
        return self._line("event_msg", {"type": "user_message", "message": text})

    def turn_complete(self) -> bytes:
        return self._line("event_msg", {"type": "task_complete", "turn_id": "t1",
                                        "duration_ms": 1200})  # fmt: skip
