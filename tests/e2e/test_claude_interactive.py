"""Claude Code interactive, in a real tmux, with a permission prompt: the tracker must follow
the agent's own word at once (``~/.claude/sessions/<pid>.json``, seen through the observer).

The turn: the prompt is typed, the mock asks for one Bash call, Claude asks permission, the test
holds the prompt open for a while (the user thinking: that hold is the scenario, not a wait for
something), answers "Yes", the command runs, the final answer comes, then ``/exit``. The store
must show waiting → running → idle → completed, each within a second or two of Claude's own
record, the permission wait apart from the run time, ``ended_at`` at the real exit, and the
exact process start. With our hooks installed, every hook call is timed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collector.service.daemon_harness import expect
from tests.e2e.world import World, epoch, pause

# The first test of an agent may install it (when .ci/run has not): more than the default.
pytestmark = pytest.mark.timeout(900)
HOLD = 2.5  # seconds the permission prompt stays open
COMMAND = f"touch e2e-marker; {pause(1)}; echo e2e-ok"


class Tmux:
    """A private tmux server (its socket under the world's TMUX_TMPDIR) with one pane."""

    def __init__(self, world: World) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed (.ci/run installs it)")
        self.env = world.env
        self.base = ["tmux", "-f", "/dev/null", "-L", "avm"]
        subprocess.run([*self.base, "new-session", "-d", "-s", "agents", "-x", "160", "-y", "45",
                        "-c", str(world.project), str(world.binary),
                        # newer versions default to "auto" mode, which asks nothing
                        "--permission-mode", "default"],
                       env=self.env, check=True, timeout=10)  # fmt: skip

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", "agents:0.0"],
                              env=self.env, capture_output=True, text=True,
                              timeout=10, check=False).stdout  # fmt: skip

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "agents:0.0", *keys], env=self.env,
                       check=True, timeout=10)  # fmt: skip

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], env=self.env, check=False, timeout=10)


def record(world: World) -> dict[str, Any] | None:
    """Claude's own record of its process, if there is one."""
    for path in (world.home / ".claude" / "sessions").glob("*.json"):
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return None


def said(world: World, status: str, timeout: float = 30) -> float:
    """When Claude's record turned to ``status`` (its own clock, epoch seconds)."""
    found = expect(lambda: (r := record(world)) is not None and r.get("status") == status and r,
                   timeout)  # fmt: skip
    stamp = found.get("statusUpdatedAt") or found.get("updatedAt")
    assert isinstance(stamp, int | float), found
    return float(stamp) / 1000


def exit_time(pid: int) -> dict[str, float]:
    """A pidfd on ``pid``: the dict gets ``at`` the moment the process exits."""
    fd = os.pidfd_open(pid)
    out: dict[str, float] = {}

    def wait() -> None:
        select.select([fd], [], [], 120)
        out["at"] = time.time()
        os.close(fd)

    threading.Thread(target=wait, name="e2e-exit", daemon=True).start()
    return out


def install_timed_hooks(world: World) -> Path:
    """``install-hooks``, then each command wrapped to log its own start and end."""
    done = world.instance.run("install-hooks")
    assert done.returncode == 0, done.stderr
    log = world.home / "hook-times.log"
    settings_path = world.home / ".claude" / "settings.json"
    settings = json.loads(settings_path.read_text())
    for event, groups in settings["hooks"].items():
        for group in groups:
            for hook in group["hooks"]:
                hook["command"] = (f"s=$(date +%s.%N); {hook['command']}; e=$(date +%s.%N); "
                                   f"echo \"{event} $s $e\" >> {log}")  # fmt: skip
    settings_path.write_text(json.dumps(settings))
    return log


def status_at(world: World, session_id: int, status: str, after: float) -> float:
    """When the tracker wrote ``status`` (first change to it at or after ``after``)."""

    def found() -> float | None:
        return next((at for at, to in world.changes(session_id) if to == status
                     and at >= after - 0.5), None)  # fmt: skip

    try:
        return float(expect(found, 15))
    except AssertionError:
        raise AssertionError(f"no {status!r} after {after}: {world.changes(session_id)}\n"
                             f"{world.instance.logs()}") from None  # fmt: skip


@pytest.mark.parametrize(
    ("hooks", "hold"),
    [
        pytest.param(False, HOLD, id="registry"),
        pytest.param(True, HOLD, id="hooks"),
        # the case: a prompt left open for most of a minute (Notification hook too)
        pytest.param(True, 45.0, id="hooks-long-wait", marks=pytest.mark.slow),
    ],
)
def test_permission_prompt_in_tmux(make_world: Any, hooks: bool, hold: float) -> None:
    world: World = make_world("claude-code")
    world.mock.script.command = COMMAND
    log = install_timed_hooks(world) if hooks else None
    tmux = Tmux(world)
    try:
        turn = take_turn(world, tmux, hold)
    finally:
        tmux.close()
    assert_statuses(world, turn.sid)
    assert_process(world, turn)
    assert_call(world, turn)
    if log is not None:
        assert_hooks(log)


@dataclass
class Turn:
    """What the test saw of the turn: Claude's own record and times, and the stored session."""

    own: dict[str, Any]
    exited: dict[str, float]
    sid: int
    asked: float  # the record said waiting
    answered: float  # …and busy again
    row: dict[str, Any]


def take_turn(world: World, tmux: Tmux, hold: float) -> Turn:
    """Prompt, permission, answer, idle, /exit; each status within reach of the agent's word."""
    expect(lambda: "for agents" in tmux.screen(), 60)  # the input box is ready
    own = expect(lambda: record(world), 15)
    exited = exit_time(int(own["pid"]))
    tmux.keys("Run the command, please.", "Enter")
    asked = said(world, "waiting")
    sid = expect(world.session, 15)["id"]
    waiting = status_at(world, sid, "waiting", asked)
    assert waiting - asked <= 1.0, (waiting, asked)
    time.sleep(hold)  # the user reads the prompt: the wait being measured
    tmux.keys("Enter")  # "1. Yes"
    answered = said(world, "busy")
    running = status_at(world, sid, "running", answered)
    assert running - answered <= 1.0, (running, answered)
    idle_said = said(world, "idle")
    idle = status_at(world, sid, "idle", idle_said)
    assert idle - idle_said <= 2.0, (idle, idle_said)
    assert (world.project / "e2e-marker").exists()
    tmux.keys("/exit", "Enter")
    row = world.wait_session(status="completed")
    expect(lambda: "at" in exited, 10)  # the test's own pidfd saw the exit
    return Turn(own, exited, sid, asked, answered, row)


def assert_statuses(world: World, sid: int) -> None:
    """From the prompt on: waiting → running → idle → completed, nothing else."""
    changes = [(to, why) for _at, to, why in world.changes(sid, reasons=True)]
    after = [to for to, _why in changes[[c[0] for c in changes].index("waiting") :]]
    if after[-2:] == ["running", "completed"] and changes[-2][1] == "agent reports busy":
        del after[-2]  # 2.1.332 says "busy" while /exit runs: its own word, faithfully kept
    assert after == ["waiting", "running", "idle", "completed"], changes


def assert_process(world: World, turn: Turn) -> None:
    """Claude's own pid, its exact start, its pane, its real exit, known from the start."""
    row, own = turn.row, turn.own
    assert row["pid"] == own["pid"]
    assert row["tmux_target"] == "agents:0.0"
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    start = boot + int(own["procStart"]) / os.sysconf("SC_CLK_TCK")
    assert abs(epoch(row["pid_started_at"]) - start) <= 0.02, (row["pid_started_at"], start)
    assert epoch(row["pid_started_at"]) <= own["startedAt"] / 1000
    assert abs(epoch(row["ended_at"]) - turn.exited["at"]) <= 0.3, (row["ended_at"], turn.exited)
    first_at, first = world.changes(turn.sid)[0]
    assert first != "unknown"
    assert first_at - epoch(row["created_at"]) <= 0.5, (first_at, row["created_at"])


def assert_call(world: World, turn: Turn) -> None:
    """The command row: the permission wait kept apart from the run time; one typed prompt."""
    calls = world.events(turn.sid, "command")
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["command"] == COMMAND
    assert call["status"] == "success"
    assert call["tool_call_id"] in [r.tool_call_id for r in world.mock.replies("tool_call")]
    held = (turn.answered - turn.asked) * 1000
    assert call["wait_ms"] is not None, call
    assert abs(call["wait_ms"] - held) <= 250, (call["wait_ms"], held)
    assert 1000 <= call["duration_ms"] < 1000 + HOLD * 1000 * 0.6, call  # the run, not the wait
    roles = [json.loads(m["tool_arguments"])["role"] for m in world.events(turn.sid, "message")]
    assert roles.count("user") == 1, roles  # /exit is no user message


def assert_hooks(log: Path) -> None:
    """Every hook ran, each quickly (Claude Code waits for it)."""
    lines = [line.split() for line in log.read_text().splitlines()]
    events = {event for event, _s, _e in lines}
    # (Notification comes only after the prompt has waited several seconds)
    assert {"SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"} <= events, lines
    times = [float(e) - float(s) for _event, s, e in lines]
    print(f"hook calls: {len(times)}, median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms")  # fmt: skip
    assert max(times) < 2.0, lines
