"""The status decision and the transcript-tail summary, as tables (pure: no processes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.tracker.session_status import Facts, TranscriptState, decide, transcript_state

NOW = 1_000_000.0
IDLE, WAIT = 300.0, 30.0


def verdict(**facts: Any) -> tuple[str, str]:
    result = decide(Facts(now=NOW, **facts), idle_after=IDLE, waiting_after=WAIT)
    return result.status, result.reason


FINISHED = TranscriptState(turn="finished")
OPEN = TranscriptState(turn="open")
PENDING_OLD = TranscriptState(turn="open", pending_since=NOW - 120)
PENDING_NEW = TranscriptState(turn="open", pending_since=NOW - 5)
ENDED = TranscriptState(turn="finished", ended=True)
INTERRUPTED = TranscriptState(turn="open", interrupted=True)


class TestDecide:
    """Every row of the status table in collector/tracker/session_status.py."""

    @pytest.mark.parametrize(
        ("facts", "status", "why"),
        [
            ({"process": "alive", "last_activity": NOW - 10}, "running", "recent activity"),
            ({"process": "alive", "last_activity": NOW - 400}, "idle", "quiet"),
            ({"process": "alive", "last_activity": None}, "idle", "quiet"),
            ({"process": "alive", "last_activity": NOW - 400, "agent_report": "busy"},
             "running", "agent reports busy"),
            ({"process": "alive", "last_activity": NOW - 1, "agent_report": "waiting",
              "agent_waiting_for": "approve Bash"}, "waiting", "approve Bash"),
            ({"process": "alive", "last_activity": NOW - 60, "transcript": PENDING_OLD},
             "waiting", "tool call pending"),
            ({"process": "alive", "last_activity": NOW - 5, "transcript": PENDING_OLD},
             "running", "recent activity"),
            ({"process": "alive", "last_activity": NOW - 5, "transcript": PENDING_NEW},
             "running", "recent activity"),
            ({"process": "alive", "last_activity": NOW - 600, "transcript": PENDING_OLD,
              "agent_report": "busy"}, "running", "agent reports busy"),
            ({"process": "alive", "end_hook": "clear"}, "completed", "SessionEnd hook (clear)"),
            ({"process": "exited", "transcript": FINISHED}, "completed", "last turn finished"),
            ({"process": "exited", "transcript": ENDED}, "completed", "end event"),
            ({"process": "exited", "transcript": TranscriptState()}, "completed", "no turn"),
            ({"process": "exited", "transcript": OPEN}, "crashed", "mid-turn"),
            ({"process": "exited", "transcript": PENDING_NEW}, "crashed", "tool call pending"),
            ({"process": "exited", "transcript": INTERRUPTED}, "stopped", "user interrupted"),
            ({"process": "exited", "transcript": PENDING_NEW, "stop_requested": True},
             "stopped", "orchestrator"),
            ({"process": "exited", "transcript": OPEN, "end_hook": "prompt_input_exit"},
             "completed", "SessionEnd hook"),
            ({"process": "alive", "end_hook": "other", "stop_requested": True}, "stopped",
             "orchestrator"),
            ({"process": "alive", "last_activity": NOW - 1, "stop_requested": True}, "running",
             "recent activity"),
            ({"process": "none", "last_activity": NOW - 10}, "running", "no process found"),
            ({"process": "none", "last_activity": NOW - 1000}, "unknown", "no process known"),
            ({"process": "none", "last_activity": None}, "unknown", "no process known"),
            ({"process": "none", "transcript": ENDED}, "completed", "end event"),
        ],
    )  # fmt: skip
    def test_table(self, facts: dict[str, Any], status: str, why: str) -> None:
        """The status and the reason's key words for each combination of facts."""
        got_status, reason = verdict(**facts)
        assert got_status == status
        assert why in reason

    def test_waiting_needs_the_threshold(self) -> None:
        """A tool call pending for less than waiting_after, in a quiet session, is not waiting."""
        state = TranscriptState(turn="open", pending_since=NOW - (WAIT - 1))
        assert verdict(process="alive", last_activity=NOW - 100, transcript=state)[0] == "running"


def row(kind: str, at: float, *, status: str | None = None, raw: str | None = None,
        **args: Any) -> dict[str, Any]:  # fmt: skip
    return {"event_type": kind, "status": status, "tool_arguments": json.dumps(args) if args
            else None, "raw_data": raw, "at": at}  # fmt: skip


class TestTranscriptState:
    """What the newest events say about the turn (rows newest first)."""

    @pytest.mark.parametrize(
        ("rows", "turn", "pending", "ended", "interrupted"),
        [
            ([], "none", None, False, False),
            ([row("turn", 9), row("message", 8, role="assistant")], "finished", None, False, False),
            ([row("message", 9, role="assistant"), row("usage", 9)], "finished", None, False,
             False),
            ([row("usage", 9), row("message", 8, role="user")], "open", None, False, False),
            ([row("command", 9, status="pending")], "open", 9.0, False, False),
            ([row("message", 10, role="assistant"), row("command", 9, status="pending")],
             "finished", 9.0, False, False),
            ([row("command", 9, status="success"), row("message", 8, role="user")], "open",
             None, False, False),
            ([row("session_end", 9), row("message", 8, role="user")], "finished", None, True,
             False),
            ([row("turn", 9, phase="started")], "open", None, False, False),
            ([row("turn", 9, phase="complete")], "finished", None, False, False),
            ([row("message", 9, role="user", raw='{"x":"[Request interrupted by user]"}')],
             "open", None, False, True),
            ([row("error", 9, type="turn_aborted", reason="interrupted")], "open", None, False,
             True),
            ([row("error", 9, errorType="abort", message="user")], "open", None, False, True),
            ([row("error", 9, type="stream_error")], "open", None, False, False),
            ([row("compaction", 9), row("turn", 8)], "finished", None, False, False),
        ],
    )  # fmt: skip
    def test_table(
        self,
        rows: list[dict[str, Any]],
        turn: str,
        pending: float | None,
        ended: bool,
        interrupted: bool,
    ) -> None:
        """The newest decisive row decides; any pending call in the tail is reported."""
        state = transcript_state(rows)
        assert (state.turn, state.pending_since, state.ended, state.interrupted) == (
            turn, pending, ended, interrupted,
        )  # fmt: skip

    def test_malformed_arguments_are_ignored(self) -> None:
        """Non-JSON tool_arguments never raise."""
        rows = [{"event_type": "message", "tool_arguments": "{not json", "at": 1.0}]
        assert transcript_state(rows).turn == "none"


class TestAgentsOwnWord:
    """The agent saying it is idle wins at once, not after ``idle_after``."""

    def test_registry_idle(self) -> None:
        assert verdict(process="alive", last_activity=NOW - 1, agent_report="idle") == (
            "idle", "agent reports idle")  # fmt: skip

    @pytest.mark.parametrize(
        ("stop_at", "last_activity", "tail", "status"),
        [
            (NOW - 3, NOW - 2, FINISHED, "idle"),  # lines written just after the Stop hook
            (NOW - 30, NOW - 2, FINISHED, "running"),  # a new turn wrote since
            (NOW - 3, NOW - 2, OPEN, "running"),  # the turn is not over
            (None, NOW - 2, FINISHED, "running"),  # no Stop hook
        ],
    )
    def test_stop_hook(
        self, stop_at: float | None, last_activity: float, tail: TranscriptState, status: str
    ) -> None:
        from collector.tracker.model import Tracked, facts_for
        from store.reads.activity import SessionRow

        row = SessionRow(1, "claude-code:s", "claude-code", "/p", "/t.jsonl", None, NOW - 60,
                         last_activity, "running", 7, None, None, None)  # fmt: skip
        t = Tracked(row, "running", 7, None, stop_at=stop_at, tail=tail)
        facts = facts_for(t, "alive", NOW)
        assert decide(facts, idle_after=IDLE, waiting_after=WAIT).status == status

    def test_empty_assistant_message_decides_nothing(self) -> None:
        """Gemini writes a tool-calling message before its calls: the user's turn stays open."""
        rows = [
            row("message", NOW - 1, role="assistant", chars=0),
            row("message", NOW - 2, role="user", chars=9),
        ]
        assert transcript_state(rows).turn == "open"
