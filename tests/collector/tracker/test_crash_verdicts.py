"""Crashed versus completed, decided by the daemon for real processes (not one table row).

Two stand-in agents are running their turn when they exit: one with a tool call still pending
(its result never written: crashed), one after the call completed and the turn finished
(completed). Both exits are observed through the real process table and pidfds.
"""

from __future__ import annotations

from tests.collector.tracker.rig import Rig


def test_exit_with_a_pending_tool_call_is_crashed_after_its_result_completed(rig: Rig) -> None:
    """Same prompt and call; only the result and the turn's end differ; the pending one is
    crashed (with that reason), the finished one completed."""
    rig.start()
    pending, finished = rig.transcript(), rig.transcript(rig.project / "b")
    (rig.project / "b").mkdir()
    first = rig.agent("claude", pending)
    second = rig.agent("claude", finished, cwd=rig.project / "b")
    first.write(pending.prompt(), pending.tool_use("toolu_pending", "make test"))
    second.write(finished.prompt(), finished.tool_use("toolu_done", "make test"))
    rig.wait_for(pending.key, status="running", pid=first.pid)
    rig.wait_for(finished.key, status="running", pid=second.pid)
    second.write(finished.tool_result("toolu_done"), finished.answer(), finished.turn_end())
    rig.settled()  # the daemon has seen the result and the turn's end before the exit
    assert first.finish() == 0
    assert second.finish() == 0
    crashed = rig.wait_for(pending.key, status="crashed")
    completed = rig.wait_for(finished.key, status="completed")
    assert crashed["ended_at"] is not None
    assert completed["ended_at"] is not None
    assert "tool call pending" in rig.changes(pending.key)[-1]["reason"]
    assert "last turn finished" in rig.changes(finished.key)[-1]["reason"]
    assert [c["to"] for c in rig.changes(pending.key)] == ["running", "crashed"]
