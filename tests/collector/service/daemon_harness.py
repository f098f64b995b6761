"""Helpers for tests that run the daemon as a real subprocess on an isolated HOME."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def expect(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


class Instance:
    """An isolated installation: HOME with agent roots, database and config under tmp."""

    def __init__(self, root: Path, **overrides: Any) -> None:
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.claude = self.home / ".claude" / "projects"
        self.codex = self.home / ".codex" / "sessions"
        self.database = self.home / ".local" / "share" / "agent-viz-monitor" / "events.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
        self.env.update({"HOME": str(self.home), "PYTHONUNBUFFERED": "1"})
        self.env.pop("CLAUDE_CONFIG_DIR", None)
        self.env.pop("CODEX_HOME", None)
        self.env["AGENT_VIZ_MONITOR_COLLECTOR__RESCAN_INTERVAL"] = "1.0"
        for key, value in overrides.items():
            self.env[f"AGENT_VIZ_MONITOR_{key.upper()}"] = str(value)
        self.procs: list[subprocess.Popen[bytes]] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "collector.cli", *args]

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``run`` (or other args) in the background; stderr goes to a log file."""
        log = open(self.home / f"daemon-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(self.command(*(args or ("run",))), env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
        """Until this daemon has written its status file (it is then watching)."""

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited early: {proc.returncode}\n{self.logs()}")
            return self.status().get("pid") == proc.pid

        expect(ready, timeout)

    def logs(self, tail: int | None = 4000) -> str:
        """The daemons' logs, the last ``tail`` characters of each (None: whole)."""
        return "\n".join(p.read_text(errors="replace")[-tail if tail else 0:]
                         for p in sorted(self.home.glob("daemon-*.log")))  # fmt: skip

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    def query(
        self, sql: str, params: tuple[Any, ...] = (), *, strict: bool = False
    ) -> list[tuple[Any, ...]]:
        """Rows from a read-only connection. While polling a starting daemon a missing or
        not-yet-created database reads as no rows; ``strict`` checks raise instead, so a
        final assertion never mistakes an unreadable database for an empty one."""
        if not self.database.exists() and not strict:
            return []
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            if strict:
                raise
            return []
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        path = self.database.with_name("status.json")
        try:
            return dict(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            return {}

    def event_keys(self) -> list[tuple[str, str]]:
        """(session key, agent event id) of every stored event, in id order."""
        rows = self.query(
            "SELECT s.session_key, e.agent_event_id FROM events e "
            "JOIN sessions s ON s.id = e.session_id",
            strict=True,
        )
        return [(str(a), str(b)) for a, b in rows]

    def committed_offset(self, path: Path) -> int:
        rows = self.query("SELECT offset FROM files WHERE path = ?", (str(path),))
        return int(rows[0][0]) if rows else -1


def claude_lines(*names: str) -> list[bytes]:
    """Complete lines (with ``\\n``) of the named Claude fixtures, valid JSON only."""
    out = []
    for name in names:
        for line in (FIXTURES / "claude" / name).read_bytes().split(b"\n"):
            if line.strip():
                out.append(line + b"\n")
    return out
