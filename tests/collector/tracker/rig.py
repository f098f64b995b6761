"""The tracker's end-to-end rig: the daemon on an isolated HOME, a project folder, stand-ins."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.collector.service.daemon_harness import Instance, expect
from tests.collector.tracker.helpers import ClaudeTranscript, StandIn

COLUMNS = "status, pid, pid_started_at, ended_at, tmux_target, spawned_by, task_file, importance"


class Rig:
    """A daemon on an isolated HOME, a project folder and the stand-ins of one test."""

    def __init__(self, root: Path, **overrides: Any) -> None:
        settings = {"tracker__scan_interval": 0.2, **overrides}
        self.instance = Instance(root, **settings)
        self.project = root / "project"
        self.project.mkdir()
        self.agents: list[StandIn] = []
        self.daemon: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.daemon = self.instance.start()
        self.instance.wait_ready(self.daemon)

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            assert self.daemon.wait(10) == 0, self.instance.logs()
        self.daemon = None

    def agent(self, name: str, transcript: ClaudeTranscript | None, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> StandIn:  # fmt: skip
        path = transcript.path if transcript is not None else None
        agent = StandIn(name, cwd or self.project, path, env=env or self.instance.env)
        self.agents.append(agent)
        return agent

    def transcript(self, project: Path | None = None) -> ClaudeTranscript:
        return ClaudeTranscript(self.instance.claude, project or self.project)

    def session(self, key: str) -> dict[str, Any] | None:
        rows = self.instance.query(f"SELECT {COLUMNS} FROM sessions WHERE session_key = ?", (key,))
        return dict(zip(COLUMNS.split(", "), rows[0], strict=True)) if rows else None

    def wait_for(self, key: str, timeout: float = 10, **want: Any) -> dict[str, Any]:
        def matches() -> dict[str, Any]:
            row = self.session(key)
            return row if row and all(row[k] == v for k, v in want.items()) else {}

        try:
            return expect(matches, timeout)
        except AssertionError:
            raise AssertionError(f"{key}: wanted {want}, have {self.session(key)}\n"
                                 f"{self.instance.logs()}") from None  # fmt: skip

    def settled(self) -> None:
        """Return once the tracker has run a whole step that began after this call: the
        positive signal that it has seen everything done before (never a fixed sleep)."""
        asked = time.time()

        def fresh() -> int | None:
            status = self.instance.status()
            written = status.get("written_at")
            if isinstance(written, int | float) and written > asked:
                return int(status.get("tracker_steps", 0)) + 1  # +1: 0 is falsy
            return None

        # A status written after this call counts at least the steps done by then; two more
        # means one began after this call and completed.
        base = expect(fresh, 20) - 1
        expect(lambda: int(self.instance.status().get("tracker_steps", 0)) >= base + 2, 20)

    def changes(self, key: str) -> list[dict[str, Any]]:
        rows = self.instance.query(
            "SELECT e.tool_arguments FROM events e JOIN sessions s ON s.id = e.session_id "
            "WHERE s.session_key = ? AND e.event_type = 'status_change' ORDER BY e.id",
            (key,),
        )
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
        self.instance.stop_all()


def make_rig(tmp_path: Path, **overrides: Any) -> Rig:
    """A rig with other tracker settings (e.g. ``tracker__idle_after=1.0``)."""
    return Rig(tmp_path / "rig", **overrides)


def rewrite(database: Path, sql: str, params: tuple[Any, ...]) -> None:
    """Change the stored database while no daemon runs (the test plays a past run)."""
    conn = sqlite3.connect(database)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def register(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    """``agent-viz-monitor register ARGS`` on the rig's HOME; must succeed."""
    done = rig.instance.run("register", *args)
    assert done.returncode == 0, done.stderr
    return done
