"""One end-to-end world: the daemon on an isolated HOME, the mock model, a project folder, and
the real agent runs whose processes are watched so the store can be compared with them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.collector.service.daemon_harness import Instance, expect
from tests.e2e.agents import headless_argv, setup_home
from tests.e2e.mock_model import MockModel, Script

SESSION_COLUMNS = (
    "id, session_key, agent, agent_session_id, project_dir, task_file, spawned_at, spawned_by, "
    "status, importance, pid, pid_started_at, last_activity, transcript_path, "
    "parent_session_id, ended_at, git_branch, model, agent_version, title, tmux_target, "
    "created_at, updated_at, started_at"
)
EVENT_COLUMNS = (
    "id, session_id, agent_event_id, parent_event_id, timestamp, event_type, tool_name, "
    "tool_call_id, tool_arguments, file_path, operation, command, command_category, status, "
    "duration_ms, exit_code, model, input_tokens, output_tokens, cache_read_tokens, "
    "cache_creation_tokens, source, raw_data, created_at, reasoning_tokens, wait_ms"
)


def pause(seconds: float) -> str:
    """A shell command that takes ``seconds``. Not ``sleep``: Claude Code 2.1.332 does not run
    a bare ``sleep`` in the foreground, it returns at once."""
    return f"python3 -c 'import time; time.sleep({seconds})'"


def epoch(iso: str) -> float:
    """Seconds since the epoch of a contract timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Run:
    """One agent process started by the test, with what the test saw of it."""

    proc: subprocess.Popen[bytes]
    before: float  # time.time() just before the fork
    after: float  # …and just after Popen returned
    tree: dict[int, float] = field(default_factory=dict)  # pid → first seen (descendants too)
    exited_at: float | None = None
    _watch: threading.Thread | None = None

    def watch(self) -> None:
        """Note every descendant while it runs, and the exit time (a thread per run)."""

        def loop() -> None:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.proc.pid)
                while self.proc.poll() is None:
                    with contextlib.suppress(psutil.Error):
                        for child in root.children(recursive=True):
                            self.tree.setdefault(child.pid, time.time())
                    time.sleep(0.02)
            self.proc.wait()
            self.exited_at = time.time()

        self.tree[self.proc.pid] = self.after
        self._watch = threading.Thread(target=loop, name="e2e-run", daemon=True)
        self._watch.start()

    def wait(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        assert self._watch is not None
        self._watch.join(10)
        return code


class World:
    """Daemon + mock + project for one test; ``close()`` ends everything it started."""

    def __init__(self, root: Path, agent: str, binary: Path, **overrides: Any) -> None:
        self.agent, self.binary = agent, binary
        self.instance = Instance(root, **overrides)
        # tmux sockets live in ${TMUX_TMPDIR}/tmux-<uid>/: short, and this world's own
        self.sockets = Path(tempfile.mkdtemp(prefix="avm-e2e-"))
        self.instance.env["TMUX_TMPDIR"] = str(self.sockets)
        self.home = self.instance.home
        self.project = self.home / "project"
        self.project.mkdir()
        self.mock = MockModel(Script()).start()
        self.env = setup_home(agent, self.home, self.project, self.mock.url)
        self.env["TMUX_TMPDIR"] = str(self.sockets)
        self.runs: list[Run] = []
        self.daemon: subprocess.Popen[bytes] | None = None

    def start_daemon(self) -> None:
        self.daemon = self.instance.start()
        self.instance.wait_ready(self.daemon)

    def start(self, argv: list[str], **popen: Any) -> Run:
        log = open(self.home / f"agent-{len(self.runs)}.log", "wb")  # noqa: SIM115
        before = time.time()
        proc = subprocess.Popen(argv, cwd=self.project, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, **popen)  # fmt: skip
        log.close()
        run = Run(proc, before, time.time())
        run.watch()
        self.runs.append(run)
        return run

    def headless(self, prompt: str = "Run the command, please.") -> Run:
        return self.start(headless_argv(self.agent, self.binary, prompt))

    # the store -------------------------------------------------------------------------------
    def sessions(self) -> list[dict[str, Any]]:
        rows = self.instance.query(f"SELECT {SESSION_COLUMNS} FROM sessions "
                                   "WHERE parent_session_id IS NULL ORDER BY id")  # fmt: skip
        return [dict(zip(SESSION_COLUMNS.split(", "), r, strict=True)) for r in rows]

    def session(self) -> dict[str, Any] | None:
        found = self.sessions()
        return found[-1] if found else None

    def events(self, session_id: int, *types: str) -> list[dict[str, Any]]:
        where = f" AND event_type IN ({','.join('?' * len(types))})" if types else ""
        rows = self.instance.query(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ?{where} ORDER BY id",
            (session_id, *types),
        )
        return [dict(zip(EVENT_COLUMNS.split(", "), r, strict=True)) for r in rows]

    def wait_session(self, timeout: float = 30, **want: Any) -> dict[str, Any]:
        def matches() -> dict[str, Any]:
            row = self.session()
            return row if row and all(row[k] == v for k, v in want.items()) else {}

        try:
            return expect(matches, timeout)
        except AssertionError:
            raise AssertionError(f"wanted {want}, have {self.session()}\n"
                                 f"{self.instance.logs()}") from None  # fmt: skip

    def output(self, index: int = -1) -> str:
        return sorted(self.home.glob("agent-*.log"))[index].read_text(errors="replace")[-3000:]

    def changes(self, session_id: int, *, reasons: bool = False) -> list[Any]:
        """(time the tracker wrote it, status[, reason]) of each status change."""
        rows = self.instance.query(
            "SELECT timestamp, tool_arguments FROM events WHERE session_id = ? "
            "AND event_type = 'status_change' ORDER BY id", (session_id,))  # fmt: skip
        out = [(epoch(r[0]), json.loads(r[1])["to"], json.loads(r[1])["reason"]) for r in rows]
        return out if reasons else [(at, to) for at, to, _why in out]

    def close(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(run.proc.pid, signal.SIGKILL)
                run.proc.wait(10)
        self.instance.stop_all()
        self.mock.close()
        shutil.rmtree(self.sockets, ignore_errors=True)
