"""One headless turn of each real agent CLI against the mock model, with the daemon running.

The agent asks the mock, gets one shell call, runs it for real, sends the result back and gets
the final answer. The store must then hold what really happened: the session (agent, ids,
project, process, times, completed), one command row with the real outcome, one user prompt,
and usage equal to what the mock sent. Codex, Gemini and Copilot have no hooks: their process
comes from the tracker's scan alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from collector.parsers.categories import categorize_command
from tests.collector.service.daemon_harness import expect
from tests.e2e.conftest import agent_binary
from tests.e2e.world import Run, World, epoch, pause

# The first test of an agent may install it (when .ci/run has not): more than the default.
pytestmark = pytest.mark.timeout(900)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SHELL_TOOLS = {"claude-code": "Bash", "codex": "exec_command", "gemini": "run_shell_command",
               "copilot": "bash"}  # fmt: skip
AGENTS = ["claude-code", "codex", "gemini", "copilot"]
TICK = 0.05  # the tracker's clock and the test's agree to a pidfd wake-up


def assert_session(world: World, run: Run, row: dict[str, Any], status: str) -> None:
    """The session columns the contract names, against the process the test started."""
    _, version = agent_binary(world.agent)
    assert row["agent"] == world.agent
    assert row["session_key"].startswith(f"{world.agent}:")
    assert row["agent_session_id"], row
    assert row["project_dir"] == str(world.project), row
    assert row["status"] == status, (row, world.instance.logs())
    assert row["importance"] == "normal"
    assert row["task_file"] is None
    assert row["spawned_by"] is None
    assert row["tmux_target"] is None
    assert row["parent_session_id"] is None
    path = Path(row["transcript_path"])
    assert path.is_file(), row
    assert world.home in path.parents, row
    # the process: one the agent's run really had, started when it really started
    assert row["pid"] in run.tree, (row["pid"], run.tree)
    started = epoch(row["pid_started_at"])
    assert run.before - TICK <= started <= run.tree[row["pid"]] + TICK, (started, run)
    if row["pid"] == run.proc.pid:  # the direct child: its start is known to a few ms
        assert started <= run.after + 0.02, (started, run.after)
    # times: the transcript's span, and the end when the process really exited
    for column in ("started_at", "last_activity", "ended_at", "created_at", "updated_at"):
        assert ISO.match(row[column]), (column, row[column])
    assert run.before - 1 <= epoch(row["started_at"]) <= epoch(row["last_activity"])
    assert row["spawned_at"] == row["started_at"]
    assert run.exited_at is not None
    assert abs(epoch(row["ended_at"]) - run.exited_at) < 0.5, (row["ended_at"], run.exited_at)
    assert row["model"], row
    if world.agent in ("claude-code", "codex"):
        assert row["agent_version"] == version


def assert_command(world: World, row: dict[str, Any], command: str) -> dict[str, Any]:
    """The one command row, completed in place."""
    calls = world.events(row["id"], "command", "tool_call", "file_op")
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["event_type"] == "command"
    assert call["tool_name"] == SHELL_TOOLS[world.agent]
    assert call["command"] == command
    assert command in json.loads(call["tool_arguments"]).values()  # the model's arguments
    assert call["command_category"] == categorize_command(command)
    assert call["tool_call_id"]
    assert call["agent_event_id"]
    assert call["file_path"] is None
    assert call["operation"] is None
    assert call["source"] == "transcript"
    assert ISO.match(call["timestamp"])
    assert ISO.match(call["created_at"])
    sent = [r.tool_call_id for r in world.mock.replies("tool_call")]
    if world.agent in ("claude-code", "codex"):  # the id the model gave the call
        assert call["tool_call_id"] in sent
    assert call["wait_ms"] is None  # no permission prompt in a headless run
    return call


def assert_usage(world: World, row: dict[str, Any]) -> None:
    """Every usage row is what the mock sent for one of its answers."""
    sent = [r.usage for r in world.mock.replies() if r.kind in ("tool_call", "final")]
    rows = world.events(row["id"], "usage")
    assert rows, "no usage stored"
    if world.agent == "copilot":  # one total per model, at shutdown
        assert len(rows) == 1, rows
        total = rows[0]
        assert total["input_tokens"] == sum(u.input for u in sent), (total, sent)
        assert total["cache_read_tokens"] == sum(u.cache_read for u in sent)
        assert total["output_tokens"] == sum(u.output for u in sent)
        return
    for usage in rows:
        match = [u for u in sent if u.input == usage["input_tokens"]]
        assert len(match) == 1, (usage, sent)
        u = match[0]
        assert usage["cache_read_tokens"] == u.cache_read, (usage, u)
        assert usage["output_tokens"] in (u.output, u.output + u.reasoning), (usage, u)
        if world.agent == "claude-code":
            assert usage["cache_creation_tokens"] == u.cache_creation
    assert len(rows) == len(sent), (rows, sent)


def assert_messages(world: World, row: dict[str, Any]) -> None:
    """One user prompt (tool results are not user messages) and an assistant answer."""
    messages = world.events(row["id"], "message")
    roles = [json.loads(m["tool_arguments"])["role"] for m in messages]
    assert roles.count("user") == 1, roles
    assert "assistant" in roles, roles


@pytest.mark.parametrize("agent", AGENTS)
def test_one_turn_with_a_shell_call(make_world: Any, agent: str) -> None:
    """Success: completed at the exit, the real pid, the command's outcome and the usage."""
    world: World = make_world(agent)
    command = world.mock.script.command = f"{pause(1)}; echo e2e-ok"
    run = world.headless()
    assert run.wait() == 0, world.output()
    row = world.wait_session(status="completed")
    expect(lambda: world.events(row["id"], "command") and
           world.events(row["id"], "command")[0]["status"] == "success", 10)  # fmt: skip
    row = world.session()
    assert row is not None
    assert_session(world, run, row, "completed")
    call = assert_command(world, row, command)
    assert call["status"] == "success"
    if agent in ("claude-code", "copilot"):  # they record no exit code for a success
        assert call["exit_code"] in (0, None)
    else:
        assert call["exit_code"] == 0
    # the call row's time is the model's answer, its result after the 1 s sleep
    assert 900 <= call["duration_ms"] <= (run.exited_at - run.before) * 1000, call
    assert_usage(world, row)
    assert_messages(world, row)


@pytest.mark.parametrize("agent", AGENTS)
def test_failing_command(make_world: Any, agent: str) -> None:
    """A command exiting 2: an error row with exit code 2; the turn still ends cleanly."""
    world: World = make_world(agent)
    command = world.mock.script.command = f"{pause(1)}; echo e2e-failing >&2; exit 2"
    run = world.headless()
    run.wait()
    row = world.wait_session(status="completed")
    expect(lambda: world.events(row["id"], "command") and
           world.events(row["id"], "command")[0]["status"] != "pending", 10)  # fmt: skip
    row = world.session()
    assert row is not None
    assert_session(world, run, row, "completed")
    call = assert_command(world, row, command)
    if agent == "copilot":  # its transcript has neither the exit code nor a failure flag
        assert call["exit_code"] is None
        return
    assert call["status"] == "error", call
    assert call["exit_code"] == 2, call


@pytest.mark.parametrize("agent", AGENTS)
def test_sigkill_mid_call(make_world: Any, agent: str) -> None:
    """The agent killed while its command runs: crashed, ended at the kill, the call pending."""
    world: World = make_world(agent)
    command = world.mock.script.command = pause(60)
    run = world.headless()
    expect(lambda: world.session() if world.session() and world.session()["pid"] else None, 30)
    expect(lambda: any(p for p in run.tree if p != run.proc.pid and _runs(p, "time.sleep")), 30)
    killed = time.time()
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.wait()
    row = world.wait_session(timeout=10, status="crashed")
    assert epoch(row["ended_at"]) - killed < 1.0, (row["ended_at"], killed)
    assert row["pid"] in run.tree
    if agent == "gemini":  # it writes a call only once it has finished
        assert world.events(row["id"], "command") == []
    else:
        assert assert_command(world, row, command)["status"] == "pending"
    changes = world.changes(row["id"])
    assert changes[-1][1] == "crashed"


def _runs(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return name.encode() in handle.read()
    except OSError:
        return False
