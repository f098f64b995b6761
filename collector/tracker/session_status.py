"""The session-status decision: given process facts and activity, which status and why.

Pure: values in, ``Verdict`` out; no clock, files or processes (the tracker gathers the facts).

| status    | meaning                                                                      |
| --------- | ---------------------------------------------------------------------------- |
| running   | process alive, transcript moved within `idle_after` (or the agent's own      |
|           | record says busy); also a transcript moving while no process is known        |
| idle      | process alive, quiet for `idle_after` or more, or the agent says it is idle  |
|           | (Claude Code registry `idle`, a Stop hook with nothing written since)        |
| waiting   | alive, and the agent's own record says it waits for the user (Claude Code    |
|           | registry `waiting`, a `permission_prompt` / `elicitation_dialog` hook), or a |
|           | tool call pending with nothing else moving for `waiting_after`               |
| completed | a clean end: a SessionEnd hook, a Codex/Copilot end-of-session event, or the |
|           | process exited after the last turn had finished                              |
| crashed   | the process exited mid-turn or with a tool call pending                      |
| stopped   | the process exited after the user interrupted the turn, or an orchestrator   |
|           | said it stopped it (``register --stopped``)                                  |
| unknown   | no process was ever known and the transcript is quiet for `idle_after`       |

Which rows of a transcript's tail make a turn "finished" is ``transcript_state``: the newest
decisive event wins — ``session_end`` and a completed ``turn`` finish, a user message or a
completed tool call open one, an assistant message finishes it (Claude writes the final
answer last; an empty one only precedes its tool calls), an interrupt marker means the user
stopped it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import orjson

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "Facts",
    "TranscriptState",
    "Verdict",
    "decide",
    "transcript_state",
]

TERMINAL = frozenset({"completed", "crashed", "stopped"})
ACTIVE = frozenset({"running", "idle", "waiting"})
_TOOL_TYPES = frozenset({"file_op", "command", "tool_call"})
_USER_INTERRUPT = "[Request interrupted by user"  # Claude Code's marker line (a user message)
_WAITING_REPORTS = frozenset({"waiting"})


class TranscriptState(msgspec.Struct, frozen=True):
    """What the newest events of a session say about its turn."""

    turn: str = "none"  # finished | open | none (nothing decisive seen)
    pending_since: float | None = None  # start of the oldest pending tool call
    ended: bool = False  # an end-of-session event (Copilot session.shutdown)
    interrupted: bool = False  # the newest decisive event is a user interrupt


class Facts(msgspec.Struct, frozen=True):
    """Everything the decision needs about one session at ``now`` (epoch seconds)."""

    now: float
    process: str  # alive | exited | none (no process was ever known)
    last_activity: float | None = None  # newest sign of life (transcript, children, hooks)
    transcript: TranscriptState = TranscriptState()
    end_hook: str | None = None  # SessionEnd reason, when the hook reported one
    agent_report: str | None = None  # the agent's own status: busy | idle | waiting | shell
    agent_waiting_for: str | None = None
    stop_requested: bool = False  # an orchestrator said it stopped the process


class Verdict(msgspec.Struct, frozen=True):
    """A status and the reason recorded with it."""

    status: str
    reason: str


def decide(facts: Facts, *, idle_after: float, waiting_after: float) -> Verdict:
    """The status of a session given ``facts`` (see the module table)."""
    ended = facts.process == "exited" or facts.end_hook is not None
    if facts.stop_requested and ended:
        return Verdict("stopped", "ended after an orchestrator stopped it")
    if facts.end_hook is not None:
        return Verdict("completed", f"SessionEnd hook ({facts.end_hook})")
    if facts.process == "exited":
        return _after_exit(facts)
    if facts.process == "none":
        return _without_process(facts, idle_after)
    return _alive(facts, idle_after, waiting_after)


def _after_exit(facts: Facts) -> Verdict:
    state = facts.transcript
    if state.ended:
        return Verdict("completed", "process exited after the session's end event")
    if state.interrupted:
        return Verdict("stopped", "process exited after the user interrupted the turn")
    if state.pending_since is not None:
        return Verdict("crashed", "process exited with a tool call pending")
    if state.turn == "open":
        return Verdict("crashed", "process exited mid-turn")
    if state.turn == "finished":
        return Verdict("completed", "process exited after the last turn finished")
    return Verdict("completed", "process exited with no turn in progress")


def _without_process(facts: Facts, idle_after: float) -> Verdict:
    if facts.transcript.ended:
        return Verdict("completed", "the session's end event was recorded")
    quiet = _quiet_for(facts)
    if quiet is not None and quiet < idle_after:
        return Verdict("running", "transcript active; no process found")
    return Verdict("unknown", "no process known and no recent activity")


def _alive(facts: Facts, idle_after: float, waiting_after: float) -> Verdict:
    if facts.agent_report in _WAITING_REPORTS:
        what = f": {facts.agent_waiting_for}" if facts.agent_waiting_for else ""
        return Verdict("waiting", f"agent reports waiting{what}")
    quiet = _quiet_for(facts)
    if facts.agent_report == "busy":
        return Verdict("running", "agent reports busy")
    if facts.agent_report == "idle":
        return Verdict("idle", "agent reports idle")
    pending = facts.transcript.pending_since
    if (
        pending is not None
        and facts.now - pending >= waiting_after
        and (quiet is None or quiet >= waiting_after)
    ):
        return Verdict("waiting", f"tool call pending for {int(facts.now - pending)}s")
    if quiet is not None and quiet < idle_after:
        return Verdict("running", "process alive, recent activity")
    return Verdict("idle", f"process alive, quiet for {int(quiet or idle_after)}s or more")


def _quiet_for(facts: Facts) -> float | None:
    if facts.last_activity is None:
        return None
    return max(0.0, facts.now - facts.last_activity)


# -- the transcript's tail -------------------------------------------------------------------


def transcript_state(rows: Iterable[Mapping[str, Any]]) -> TranscriptState:
    """Summarise a session's newest events, given newest first.

    Each row has ``event_type``, ``status``, ``tool_arguments`` (JSON text), ``raw_data`` and
    ``at`` (epoch seconds of ``timestamp``).
    """
    turn: str | None = None
    pending: float | None = None
    ended = interrupted = False
    for row in rows:
        kind = row.get("event_type")
        if kind in _TOOL_TYPES and row.get("status") == "pending":
            at = row.get("at")
            if isinstance(at, float | int):
                pending = float(at) if pending is None else min(pending, float(at))
        if turn is not None:
            continue
        verdict = _decisive(kind, row)
        if verdict is None:
            continue
        turn = "finished" if verdict in ("finished", "ended") else "open"
        ended = verdict == "ended"
        interrupted = verdict == "interrupted"
    return TranscriptState(turn or "none", pending, ended, interrupted)


def _decisive(kind: object, row: Mapping[str, Any]) -> str | None:
    """finished | ended | open | interrupted for a decisive row, else None."""
    if kind == "session_end":
        return "ended"
    if kind in _TOOL_TYPES:
        return "open"
    args = _args(row.get("tool_arguments"))
    if kind == "turn":
        return "open" if args.get("phase") == "started" else "finished"
    if kind == "message":
        role = args.get("role")
        if role == "assistant":  # an empty one only announces its tool calls (Gemini writes
            return None if args.get("chars") == 0 else "finished"  # them once they are done)
        if role == "user":
            raw = row.get("raw_data")
            if isinstance(raw, str) and _USER_INTERRUPT in raw:
                return "interrupted"
            return "open"
        return None
    if kind == "error":
        aborted = args.get("type") == "turn_aborted" or args.get("errorType") == "abort"
        return "interrupted" if aborted else "open"
    return None


def _args(text: object) -> dict[str, Any]:
    if not isinstance(text, str | bytes) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
