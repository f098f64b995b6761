"""The tracker's in-memory model: what it knows about each session, and the spool's records.

``Tracked`` gathers, per session, the facts ``collector.tracker.session_status.decide`` needs: the
live process and which source named it, the exit noticed and not yet judged, the hooks' reports, the
agent's own record, an orchestrator's stop, the transcript's tail. ``facts_for`` turns it into
``Facts``. The spool's records (written by ``hook`` and ``register``) are parsed here into
``HookEvent``, ``Registration`` and ``StopNotice``; anything malformed is None (and dropped).

Sources rank by how exactly they name a session's process: a hook (Claude Code tells us the
session and we walk up to its process) and an orchestrator's registration first, then the
agent's own per-process record and an identity stored by the last run, then the process scan
(a guess from the working directory). A weaker source never takes a process from a stronger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from collector.tracker.agent_records import AgentRecord
from collector.tracker.process import ProcessIdentity
from collector.tracker.session_status import Facts, TranscriptState
from store.reads.activity import SessionRow

__all__ = [
    "STRENGTH",
    "HookEvent",
    "Registration",
    "StopNotice",
    "Tracked",
    "facts_for",
    "parse_spooled",
]

STRENGTH = {"scan": 1, "registry": 2, "stored": 2, "registration": 3, "hook": 3}
_WAITING_NOTICES = frozenset({"permission_prompt", "elicitation_dialog"})


class Registration(msgspec.Struct):
    """An orchestrator's ``register``: this process is an agent, with these seed fields."""

    reg_id: str
    identity: ProcessIdentity
    project_dir: str | None
    task_file: str | None
    spawned_by: str | None
    importance: str | None
    agent: str | None
    at: float
    path: Path
    stop_requested: bool = False
    gone_at: float | None = None  # when its process was first seen gone

    def fields(self) -> dict[str, str | None]:
        """The seed's columns it sets (``SessionStatus`` keyword arguments)."""
        return {"spawned_by": self.spawned_by, "task_file": self.task_file,
                "importance": self.importance, "project_dir": self.project_dir}  # fmt: skip


class StopNotice(msgspec.Struct, frozen=True):
    """An orchestrator's ``register --stopped``: it ended (or is ending) this pid on purpose."""

    pid: int
    identity: ProcessIdentity | None
    at: float
    path: Path


class HookEvent(msgspec.Struct, frozen=True):
    """One Claude Code hook invocation, as the ``hook`` command spooled it."""

    event: str
    session_id: str
    transcript_path: str | None
    cwd: str | None
    detail: str | None  # SessionStart source, SessionEnd reason, notification_type
    identity: ProcessIdentity | None  # the agent process found by walking up from the hook
    at: float
    path: Path


class Tracked(msgspec.Struct, eq=False):
    """Everything the tracker knows about one stored session."""

    row: SessionRow
    stored_status: str  # what the database holds (as far as we wrote or read it)
    stored_pid: int | None
    stored_tmux: str | None
    identity: ProcessIdentity | None = None  # the live process writing this session
    source: str | None = None
    last_identity: ProcessIdentity | None = None  # kept after an exit, for the record
    exited_at: float | None = None  # exit noticed, verdict not yet written
    ever_process: bool = False
    end_hook: str | None = None
    end_at: float | None = None  # when the SessionEnd hook ran (ended_at unless the exit is seen)
    stop_at: float | None = None  # when the Stop hook said the turn is over
    waiting_since: float | None = None  # the agent's record turned ``waiting`` at this time
    # (since, seconds) to write
    waits: list[tuple[float, float]] = msgspec.field(default_factory=list)
    superseded: bool = False  # its process went on to another session (Claude /clear)
    hook_at: float | None = None  # newest activity a hook reported
    notice: tuple[str, float] | None = None  # a waiting notification and its time
    report: AgentRecord | None = None
    report_lost_at: float | None = None  # its file vanished (the agent is exiting)
    stop_requested: bool = False
    registration: Registration | None = None
    fields_pending: bool = False  # the registration's fields are not written yet
    tail: TranscriptState = msgspec.field(default_factory=TranscriptState)
    tail_dirty: bool = True
    child_at: float | None = None  # newest activity of its subagents
    file_at: float | None = None  # the transcript's mtime, while a process is attached
    file_stamp: tuple[int, int] | None = None  # (size, mtime_ns) last seen
    offset_seen: int | None = None  # committed offset last seen (tool results move only it)
    tmux: str | None = None
    lineage: tuple[int, ...] = ()  # the process and its ancestors' pids, for tmux

    @property
    def last_activity(self) -> float | None:
        """Newest sign of life from any source."""
        sources = (self.row.last_activity, self.hook_at, self.child_at, self.file_at)
        stamps = [s for s in sources if s]
        return max(stamps) if stamps else None


def facts_for(t: Tracked, process: str, now: float) -> Facts:
    """The decision's input for ``t`` whose process state is ``process``."""
    report, waiting_for = None, None
    if t.report is not None and process == "alive":
        report, waiting_for = t.report.status, t.report.waiting_for
    transcript_at = max(t.row.last_activity or 0.0, t.file_at or 0.0)
    if report is None and t.notice is not None and t.notice[1] >= transcript_at:
        report, waiting_for = "waiting", t.notice[0].replace("_", " ")
    if report is None and process == "alive" and _stopped(t):
        report = "idle"
    end = t.end_hook
    if end is None and t.superseded:
        end = "its process went on to another session"
    return Facts(
        now=now,
        process=process,
        last_activity=t.last_activity,
        transcript=t.tail,
        end_hook=end,
        agent_report=report,
        agent_waiting_for=waiting_for,
        stop_requested=t.stop_requested,
    )


# Lines Claude writes right after its Stop hook (stop_hook_summary, turn_duration) are not a
# new turn: activity this close after the hook still counts as the turn it ended.
_AFTER_STOP = 2.0


def _stopped(t: Tracked) -> bool:
    """Did the Stop hook end the turn, with nothing new since (the agent's own "idle")?"""
    if t.stop_at is None or t.tail.turn != "finished" or t.tail.pending_since is not None:
        return False
    return (t.row.last_activity or 0.0) <= t.stop_at + _AFTER_STOP


# -- spool records ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_spooled(path: Path, data: dict[str, Any]) -> HookEvent | Registration | StopNotice | None:
    """The record in one spool file, or None when it is not one we understand."""
    at = _number(data.get("ts"))
    if at is None:
        return None
    kind = data.get("kind")
    identity = ProcessIdentity.from_dict(data.get("identity"))
    if kind == "hook":
        session = _text(data.get("session_id"))
        event = _text(data.get("event"))
        if session is None or event is None:
            return None
        return HookEvent(event, session, _text(data.get("transcript_path")),
                         _text(data.get("cwd")), _text(data.get("detail")), identity, at,
                         path)  # fmt: skip
    if kind == "register" and identity is not None:
        reg_id = _text(data.get("id"))
        if reg_id is None:
            return None
        return Registration(reg_id, identity, _text(data.get("project_dir")),
                            _text(data.get("task_file")), _text(data.get("spawned_by")),
                            _text(data.get("importance")), _text(data.get("agent")), at,
                            path)  # fmt: skip
    if kind == "stop":
        pid = data.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
            return StopNotice(pid, identity, at, path)
    return None


def waiting_notice(event: HookEvent) -> bool:
    """Whether a Notification hook says the agent waits for the user."""
    return event.event == "Notification" and event.detail in _WAITING_NOTICES
