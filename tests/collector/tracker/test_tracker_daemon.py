"""The tracker inside the real daemon with real stand-in agents (no mocks): lifecycle, pid reuse.

Each test runs the daemon as a subprocess on an isolated HOME with a process scan every 0.2 s
(``rig.Rig``), spawns stand-in agents (``stand_in.py`` with argv[0] naming the agent, cwd in the
project) that append a transcript as the daemon ingests it, and reads the database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.tracker.process import ProcessIdentity, read_identity
from collector.tracker.spool import write_record
from config.paths import spool_dir
from tests.collector.service.daemon_harness import expect
from tests.collector.tracker.helpers import ClaudeSubagent, CodexTranscript
from tests.collector.tracker.rig import Rig, make_rig, rewrite


class TestLifecycle:
    """running with the right pid; crashed on SIGKILL mid tool call; completed on a clean end."""

    def test_agent_gets_its_pid_and_running(self, rig: Rig) -> None:
        """A stand-in claude appends in its cwd: the session has its pid, start and running."""
        rig.start()
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt())
        row = rig.wait_for(tr.key, status="running", pid=agent.pid)
        identity = read_identity(agent.pid)
        assert identity is not None
        assert row["pid_started_at"] == identity.started_iso
        assert row["ended_at"] is None

    def test_sigkill_mid_tool_call_is_crashed(self, rig: Rig) -> None:
        """A tool call pending when the process is killed: crashed, with ended_at and reason."""
        rig.start()
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt(), tr.tool_use("toolu_kill"))
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        killed_at = time.time()
        agent.kill()
        row = rig.wait_for(tr.key, timeout=5, status="crashed")
        assert row["pid"] == agent.pid
        assert row["ended_at"] is not None
        assert time.time() - killed_at < 3.0  # pidfd: noticed at once, not at a poll
        assert [c["to"] for c in rig.changes(tr.key)] == ["running", "crashed"]
        assert "tool call pending" in rig.changes(tr.key)[-1]["reason"]

    def test_clean_end_then_exit_is_completed(self, rig: Rig) -> None:
        """The turn finishes (answer, turn_duration), then the process exits 0: completed."""
        rig.start()
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt(), tr.tool_use("toolu_ok", "ls"), tr.tool_result("toolu_ok"))
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        agent.write(tr.answer(), tr.turn_end())
        assert agent.finish() == 0
        row = rig.wait_for(tr.key, status="completed")
        assert row["ended_at"] is not None
        assert "last turn finished" in rig.changes(tr.key)[-1]["reason"]

    def test_exit_mid_turn_is_crashed_and_user_interrupt_is_stopped(self, rig: Rig) -> None:
        """Exit after a prompt with no answer: crashed; exit right after an interrupt: stopped."""
        rig.start()
        mid, interrupted = rig.transcript(), rig.transcript(rig.project / "b")
        (rig.project / "b").mkdir()
        first = rig.agent("claude", mid)
        second = rig.agent("claude", interrupted, cwd=rig.project / "b")
        first.write(mid.prompt())
        second.write(interrupted.prompt(), interrupted.interrupted())
        rig.wait_for(mid.key, status="running", pid=first.pid)
        rig.wait_for(interrupted.key, status="running", pid=second.pid)
        first.finish()
        second.finish()
        rig.wait_for(mid.key, status="crashed")
        rig.wait_for(interrupted.key, status="stopped")

    def test_node_wrapped_agent_is_recognised(self, rig: Rig, tmp_path: Path) -> None:
        """``<interpreter> …/bin/claude`` (how npm installs run) is an agent too."""
        script = tmp_path / "bin" / "claude"
        script.parent.mkdir()
        script.write_text((Path(__file__).with_name("stand_in.py")).read_text())
        rig.start()
        tr = rig.transcript()
        proc = subprocess.Popen([sys.executable, str(script), str(tr.path)], cwd=rig.project,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            proc.stdin.write(tr.prompt())
            proc.stdin.flush()
            rig.wait_for(tr.key, status="running", pid=proc.pid)
        finally:
            proc.kill()
            proc.communicate()

    def test_codex_turn_complete_then_exit_is_completed(self, rig: Rig) -> None:
        """A stand-in codex and its rollout file: running with its pid, then completed."""
        rig.start()
        tr = CodexTranscript(rig.instance.codex, rig.project)
        agent = rig.agent("codex", None)
        with open(tr.path, "ab") as handle:
            handle.write(tr.meta() + tr.turn_started() + tr.prompt())
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        with open(tr.path, "ab") as handle:
            handle.write(tr.turn_complete())
        expect(lambda: rig.instance.committed_offset(tr.path) == tr.path.stat().st_size)
        assert agent.finish() == 0
        rig.wait_for(tr.key, status="completed")

    def test_subagent_shares_its_parents_process(self, rig: Rig) -> None:
        """A subagent session gets the parent's pid; the parent's death ends both."""
        rig.start()
        parent = rig.transcript()
        child = ClaudeSubagent(parent, "a1b2c3")
        agent = rig.agent("claude", parent)
        agent.write(parent.prompt(), parent.tool_use("toolu_task"))
        rig.wait_for(parent.key, status="running", pid=agent.pid)
        with open(child.path, "ab") as handle:
            handle.write(child.prompt("look around") + child.tool_use("toolu_child"))
        rig.wait_for(child.key, status="running", pid=agent.pid)
        agent.kill()
        rig.wait_for(parent.key, status="crashed")
        rig.wait_for(child.key, status="crashed")

    def test_idle_then_waiting_on_a_pending_tool_call(self, tmp_path: Path) -> None:
        """Quiet past idle_after: idle. A tool call pending past waiting_after: waiting."""
        rig = make_rig(tmp_path, tracker__idle_after=1.0, tracker__waiting_after=1.5)
        try:
            # The root exists before the daemon starts: a root that appears later is found by
            # a 1 s poll, as long as idle_after itself, and "running" could be skipped.
            tr = rig.transcript()
            rig.start()
            agent = rig.agent("claude", tr)
            agent.write(tr.prompt(), tr.answer(), tr.turn_end())
            rig.wait_for(tr.key, status="running", pid=agent.pid)
            rig.wait_for(tr.key, status="idle")
            agent.write(tr.prompt(), tr.tool_use("toolu_wait"))
            rig.wait_for(tr.key, status="running")
            rig.wait_for(tr.key, status="waiting")
            agent.write(tr.tool_result("toolu_wait"))
            rig.wait_for(tr.key, status="running")
            waiting = next(c for c in rig.changes(tr.key) if c["to"] == "waiting")
            assert "tool call pending" in waiting["reason"]
        finally:
            rig.close()


class TestPidReuse:
    """A pid now used by an unrelated process never revives or hijacks a session."""

    @pytest.mark.parametrize("kept", ["identities-file", "database-only"])
    def test_stored_pid_with_another_start_time_is_not_the_agent(self, rig: Rig, kept: str) -> None:
        """Restart with the stored pid naming a live unrelated process whose start differs
        (pid reuse, simulated by the start-time mismatch) — exact in the identities file, or
        only the stored pid_started_at when that file is gone: the session ends, later lines
        do not revive it, and the unrelated process is never attached."""
        rig.start()
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt(), tr.tool_use("toolu_reuse"))
        row = rig.wait_for(tr.key, status="running", pid=agent.pid)
        rig.stop()
        agent.kill()
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 cwd=rig.project)  # fmt: skip
        identities = rig.instance.database.with_name("tracker-identities.json")
        try:
            saved = json.loads(identities.read_text())
            assert saved[tr.key]["pid"] == agent.pid
            if kept == "identities-file":  # the agent's start tick, now under the reused pid
                saved[tr.key]["pid"] = other.pid
                identities.write_text(json.dumps(saved))
                started = row["pid_started_at"]
            else:
                identities.unlink()
                started = ProcessIdentity(other.pid, time.time() - 3600).started_iso
            rewrite(rig.instance.database, "UPDATE sessions SET pid = ?, pid_started_at = ? "
                    "WHERE session_key = ?", (other.pid, started, tr.key))  # fmt: skip
            rig.start()
            rig.wait_for(tr.key, status="crashed")
            with open(tr.path, "ab") as handle:  # late lines, written by nobody alive
                handle.write(tr.tool_result("toolu_reuse") + tr.answer())
            size = tr.path.stat().st_size
            expect(lambda: rig.instance.committed_offset(tr.path) == size)  # lines stored
            rig.settled()  # … and seen by the tracker
            final = rig.session(tr.key)
            assert final is not None
            assert final["status"] == "crashed"
            assert final["pid_started_at"] == started
            assert other.poll() is None
            assert [c["to"] for c in rig.changes(tr.key)] == ["running", "crashed"]
        finally:
            other.kill()
            other.wait(10)

    def test_live_agent_survives_a_daemon_restart(self, rig: Rig) -> None:
        """The same process (pid and start) after a restart is re-attached, not re-judged."""
        rig.start()
        tr = rig.transcript()
        agent = rig.agent("claude", tr)
        agent.write(tr.prompt(), tr.tool_use("toolu_restart"))
        rig.wait_for(tr.key, status="running", pid=agent.pid)
        rig.stop()
        rig.start()
        rig.settled()
        assert rig.session(tr.key)["status"] == "running"  # type: ignore[index]
        agent.kill()
        rig.wait_for(tr.key, status="crashed")

    def test_spooled_identity_of_a_reused_pid_is_ignored(self, rig: Rig) -> None:
        """A hook record naming a live pid with another start tick attaches nothing."""
        rig.start()
        tr = rig.transcript()
        elsewhere = rig.project / "elsewhere"
        elsewhere.mkdir()
        bystander = rig.agent("claude", None, cwd=elsewhere)
        real = read_identity(bystander.pid)
        assert real is not None
        stale = ProcessIdentity(real.pid, real.started_at - 500, (real.start_ticks or 0) - 50000,
                                real.boot_id)  # fmt: skip
        with open(tr.path, "ab") as handle:
            handle.write(tr.prompt())
        rig.wait_for(tr.key, status="running", pid=None)
        write_record(spool_dir(rig.instance.database), {
            "kind": "hook", "ts": time.time(), "event": "SessionStart", "detail": "resume",
            "session_id": tr.session_id, "transcript_path": str(tr.path), "cwd": str(rig.project),
            "identity": stale.to_dict(),
        })  # fmt: skip
        expect(lambda: not list(spool_dir(rig.instance.database).glob("*.json")))
        rig.settled()
        assert rig.session(tr.key)["pid"] is None  # type: ignore[index]
