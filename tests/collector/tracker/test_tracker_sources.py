"""The tracker's process sources inside the real daemon: Claude Code's own records, its hooks,
orchestrators' registrations and a real tmux server (real processes, no mocks)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from collector.hooks import registration
from collector.tracker.process import read_identity
from collector.tracker.spool import write_record
from config.paths import spool_dir
from tests.collector.service.daemon_harness import expect
from tests.collector.tracker.rig import Rig, register


class TestAgentRecords:
    """Claude Code's own ~/.claude/sessions/<pid>.json names the process and its state."""

    def test_registry_record_attaches_and_reports_waiting(self, rig: Rig, tmp_path: Path) -> None:
        """A process no argv rule or cwd would find (named ``worker``, elsewhere) is tied to the
        session its record names; the record's ``waiting`` becomes the status, ``busy`` running;
        a record whose procStart is another tick (pid reuse) is ignored."""
        rig.start()
        tr = rig.transcript()
        outside = tmp_path / "outside"
        outside.mkdir()
        worker = rig.agent("worker", None, cwd=outside)
        identity = read_identity(worker.pid)
        assert identity is not None
        sessions = rig.instance.home / ".claude" / "sessions"
        sessions.mkdir(parents=True)
        record = {"pid": worker.pid, "sessionId": tr.session_id, "cwd": str(rig.project),
                  "startedAt": int(time.time() * 1000), "kind": "interactive",
                  "entrypoint": "cli", "status": "waiting", "waitingFor": "approve Bash",
                  "procStart": str((identity.start_ticks or 0) + 77)}  # fmt: skip
        (sessions / f"{worker.pid}.json").write_text(json.dumps(record))
        with open(tr.path, "ab") as handle:
            handle.write(tr.prompt())
        rig.wait_for(tr.key, status="running", pid=None)
        rig.settled()
        assert rig.session(tr.key)["pid"] is None  # type: ignore[index]
        record["procStart"] = str(identity.start_ticks)
        (sessions / f"{worker.pid}.json").write_text(json.dumps(record))
        rig.wait_for(tr.key, status="waiting", pid=worker.pid)
        assert "approve Bash" in rig.changes(tr.key)[-1]["reason"]
        (sessions / f"{worker.pid}.json").write_text(json.dumps({**record, "status": "busy"}))
        rig.wait_for(tr.key, status="running")


class TestHooks:
    """The Claude Code hook names the session exactly, even outside the project folder."""

    def test_hook_attaches_and_session_end_completes(self, rig: Rig, tmp_path: Path) -> None:
        """SessionStart through ``sh -c`` from a stand-in whose cwd is not the project: the
        hook's ancestry walk gives the pid; SessionEnd completes the session (at the latest a
        few seconds after the hook, when the process lives on)."""
        rig.start()
        tr = rig.transcript()
        outside = tmp_path / "outside"
        outside.mkdir()
        env = dict(rig.instance.env, STAND_IN_HOOK=" ".join(rig.instance.command("hook")))
        agent = rig.agent("claude", tr, cwd=outside, env=env)
        agent.hook(tr.hook_payload("SessionStart", source="startup"))
        agent.write(tr.prompt())
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        agent.hook(tr.hook_payload("SessionEnd", reason="prompt_input_exit"))
        row = rig.wait_for(tr.key, status="completed")
        assert row["ended_at"] is not None
        assert "SessionEnd hook (prompt_input_exit)" in rig.changes(tr.key)[-1]["reason"]
        assert agent.finish() == 0
        rig.settled()
        assert rig.session(tr.key)["status"] == "completed"  # type: ignore[index]
        expect(lambda: not list(spool_dir(rig.instance.database).glob("*.json")))

    def test_pid_from_the_first_status_and_end_at_the_exit(self, rig: Rig, tmp_path: Path) -> None:
        """A SessionStart hook spooled before the transcript exists names the pid in the
        session's very first status (no scan can: the cwd is elsewhere); after SessionEnd,
        ``ended_at`` is the process's exit, not the hook's moment."""
        rig.start()
        tr = rig.transcript()
        outside = tmp_path / "outside"
        outside.mkdir()
        env = dict(rig.instance.env, STAND_IN_HOOK=" ".join(rig.instance.command("hook")))
        agent = rig.agent("claude", tr, cwd=outside, env=env)
        agent.hook(tr.hook_payload("SessionStart", source="startup"))
        agent.write(tr.prompt())
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        assert rig.changes(tr.key)[0]["pid"] == agent.pid
        agent.write(tr.answer())
        agent.hook(tr.hook_payload("SessionEnd", reason="prompt_input_exit"))
        time.sleep(0.6)  # Claude Code exits 0.5-0.7 s after its SessionEnd hook
        before = time.time()
        assert agent.finish() == 0
        after = time.time()
        row = rig.wait_for(tr.key, status="completed")
        ended = datetime.fromisoformat(row["ended_at"].replace("Z", "+00:00")).timestamp()
        # The hook's moment is >= 0.6 s before ``before``; the exit is stamped when the tracker's
        # pidfd wakes it, which a loaded 2-core machine can delay by a few tenths of a second
        # (0.31 s seen with the slow soaks beside the suite); the bound keeps it near the exit.
        assert before - 0.05 <= ended <= after + 1.5, (before, row["ended_at"], after)

    def test_bad_and_orphan_spool_records_are_dropped(self, rig: Rig) -> None:
        """Garbage in the spool and a session that ended before writing anything: both files
        go, and tracking goes on."""
        rig.start()
        folder = spool_dir(rig.instance.database)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "00000000000000000001-1-garbage.json").write_text("{not json")
        never = rig.transcript()
        for event in ("SessionStart", "SessionEnd"):
            record = {
                "kind": "hook",
                "ts": time.time(),
                "event": event,
                "identity": None,
                "session_id": never.session_id,
                "transcript_path": str(never.path),
            }
            write_record(folder, record)
        expect(lambda: not list(folder.glob("*.json")))
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt())
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        assert rig.session(never.key) is None

    def test_permission_prompt_notification_is_waiting(self, rig: Rig) -> None:
        """A permission_prompt Notification: waiting until the transcript moves again."""
        rig.start()
        tr = rig.transcript()
        env = dict(rig.instance.env, STAND_IN_HOOK=" ".join(rig.instance.command("hook")))
        agent = rig.agent("claude", tr, env=env)
        agent.write(tr.prompt(), tr.tool_use("toolu_perm"))
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        time.sleep(0.05)  # the notification comes after the last transcript line
        agent.hook(tr.hook_payload("Notification", notification_type="permission_prompt",
                                   message="Claude needs your permission to use Bash"))  # fmt: skip
        rig.wait_for(tr.key, status="waiting")
        agent.write(tr.tool_result("toolu_perm"))
        rig.wait_for(tr.key, status="running")


class TestRegistration:
    """Orchestrators register agents; the registration attaches when the transcript appears."""

    def test_registration_before_transcript_attaches(self, rig: Rig) -> None:
        """Register a process no argv rule knows, then its transcript appears: the session gets
        its pid and the seed's fields; a stop notice then a kill gives stopped."""
        rig.start()
        tr = rig.transcript()
        worker = rig.agent("worker", tr)
        task = rig.project / "TASK.md"
        register(rig, "--pid", str(worker.pid), "--project-dir", str(rig.project),
                 "--task-file", str(task), "--spawned-by", "orchestrator-7",
                 "--importance", "high")  # fmt: skip
        rig.settled()
        assert rig.session(tr.key) is None
        worker.write(tr.prompt(), tr.tool_use("toolu_reg"))
        rig.wait_for(tr.key, status="running", pid=worker.pid, spawned_by="orchestrator-7",
                     task_file=str(task), importance="high")  # fmt: skip
        register(rig, "--pid", str(worker.pid), "--stopped")
        expect(lambda: not list(spool_dir(rig.instance.database).glob("*.json")))  # applied
        worker.kill()
        rig.wait_for(tr.key, status="stopped")
        expect(lambda: not list(spool_dir(rig.instance.database).glob("*.json")))

    def test_registration_works_while_the_daemon_is_down(self, rig: Rig) -> None:
        """Registered through the Python API before the daemon starts: applied when it does."""
        tr = rig.transcript()
        worker = rig.agent("worker", tr)
        registration.register(worker.pid, spawned_by="cron", database=rig.instance.database)
        worker.write(tr.prompt())
        rig.start()
        rig.wait_for(tr.key, status="running", pid=worker.pid, spawned_by="cron",
                     importance="normal")  # fmt: skip

    def test_registered_process_dying_without_transcript_is_recorded(self, rig: Rig) -> None:
        """No transcript ever appears: a ``registered:<id>`` session ends crashed."""
        rig.start()
        worker = rig.agent("worker", None)
        reg_id = register(rig, "--quiet", "--pid", str(worker.pid), "--task-file", "/t/task.md",
                          "--project-dir", str(rig.project)).stdout.strip()  # fmt: skip
        worker.kill()
        row = rig.wait_for(f"registered:{reg_id}", timeout=15, status="crashed")
        assert (row["pid"], row["task_file"]) == (worker.pid, "/t/task.md")

    def test_register_refuses_a_pid_that_does_not_exist(self, rig: Rig) -> None:
        """Exit 1 with one line naming the pid."""
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(10)
        done = rig.instance.run("register", "--pid", str(child.pid))
        assert done.returncode == 1
        assert f"pid {child.pid}" in done.stderr


class TestTmux:
    """A real tmux server: the agent's pane is stored as session:window.pane."""

    def test_agent_in_a_pane_gets_its_target(self, rig: Rig, tmp_path: Path) -> None:
        """A stand-in claude started in a tmux pane (through the pane's shell)."""
        tmux = subprocess.run(["which", "tmux"], capture_output=True, text=True, check=False)
        if tmux.returncode != 0:
            pytest.skip("tmux is not installed (.ci/run installs it)")

        sockets = Path(tempfile.mkdtemp(prefix="avm-tmux-"))  # short: socket paths are bounded
        rig.instance.env["TMUX_TMPDIR"] = str(sockets)
        link = tmp_path / "bin" / "claude"
        link.parent.mkdir()
        link.symlink_to(sys.executable)
        tr = rig.transcript()
        base = ["tmux", "-f", "/dev/null", "-L", "avm"]
        env = dict(rig.instance.env)
        command = f"{link} {Path(__file__).with_name('stand_in.py')} {tr.path}; sleep 30"
        try:
            subprocess.run([*base, "new-session", "-d", "-s", "agents", "-c", str(rig.project),
                            command], env=env, check=True, timeout=10)  # fmt: skip
            rig.start()
            with open(tr.path, "ab") as handle:
                handle.write(tr.prompt())
            row = rig.wait_for(tr.key, status="running", tmux_target="agents:0.0")
            assert row["pid"] is not None
        finally:
            subprocess.run([*base, "kill-server"], env=env, check=False, timeout=10)
            shutil.rmtree(sockets, ignore_errors=True)
