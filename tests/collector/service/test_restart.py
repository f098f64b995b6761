"""Sessions a stopped daemon left ``running`` are decided again when the next daemon starts:
their process is gone, so each ends (crashed, completed) or becomes unknown, with the reason
recorded in a ``status_change``. Real daemon, real stand-in agent processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.tracker.rig import Rig, make_rig, rewrite


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path, tracker__idle_after=2.0)
    try:
        yield made
    finally:
        made.close()


def test_agent_that_exited_while_no_daemon_ran(rig: Rig) -> None:
    """Mid-turn (a tool call pending) when the daemon stopped, gone when it restarts."""
    rig.start()
    tr = rig.transcript()
    agent = rig.agent("claude", tr)
    agent.write(tr.prompt(), tr.tool_use("toolu_gone"))
    rig.wait_for(tr.key, status="running", pid=agent.pid)
    rig.stop()
    agent.kill()
    rig.start()
    row = rig.wait_for(tr.key, status="crashed")
    assert row["ended_at"] is not None
    last = rig.changes(tr.key)[-1]
    assert (last["from"], last["to"]) == ("running", "crashed")
    assert "exited" in last["reason"]


def test_running_without_a_known_process(rig: Rig) -> None:
    """A session stored ``running`` with no process and old activity becomes ``unknown``."""
    rig.start()
    tr = rig.transcript()
    with open(tr.path, "ab") as handle:
        handle.write(tr.prompt())
    rig.wait_for(tr.key, status="running", pid=None)
    rig.stop()
    rewrite(rig.instance.database, "UPDATE sessions SET last_activity = ? WHERE session_key = ?",
            ("2025-01-01T00:00:00.000Z", tr.key))  # fmt: skip
    rig.start()
    rig.wait_for(tr.key, status="unknown", timeout=15)
    last = rig.changes(tr.key)[-1]
    assert (last["from"], last["to"]) == ("running", "unknown")
    assert last["reason"]
