"""Which report row a piece of usage belongs to, for every group but ``blocks``.

Calendar groups use the day in the report's time zone of each quarter hour of usage, so a
session crossing midnight splits by message time. Session groups roll subagents into the
session that spawned them (``flat`` lists each); project and branch come from the session
itself, or from its parent when the subagent's transcript does not say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from collector.reports.projects import fold_worktree
from store.timestamps import format_timestamp

__all__ = ["GROUPS", "KEY_FIELDS", "SessionIndex", "calendar_key", "day_starts"]

GROUPS = ("daily", "weekly", "monthly", "session", "project", "branch", "model", "blocks")
KEY_FIELDS = {
    "daily": ("date",), "weekly": ("week",), "monthly": ("month",),
    "session": ("session_key", "agent_session_id"), "project": ("project",),
    "branch": ("branch",), "model": ("model", "agent"), "blocks": ("block_start", "block_end"),
}  # fmt: skip
NO_BRANCH = "(no branch)"
NO_PROJECT = "(no project)"


class SessionIndex:
    """Sessions' attribution: root session, folded project, branch, agent."""

    def __init__(
        self,
        sessions: Mapping[int, Mapping[str, Any]],
        fold: Callable[[str | None], str | None] = fold_worktree,
    ) -> None:
        self.sessions = sessions
        self._fold = fold
        self._roots: dict[int, int] = {}
        self._projects: dict[int, str] = {}

    def agent(self, sid: int) -> str:
        session = self.sessions.get(sid)
        return str(session["agent"]) if session else "unknown"

    def root(self, sid: int) -> int:
        """The top of ``sid``'s parent chain (itself for a main session)."""
        if sid not in self._roots:
            seen, current = {sid}, sid
            while True:
                parent = (self.sessions.get(current) or {}).get("parent_session_id")
                if parent is None or parent in seen or parent not in self.sessions:
                    break
                seen.add(parent)
                current = parent
            self._roots[sid] = current
        return self._roots[sid]

    def project(self, sid: int) -> str:
        if sid not in self._projects:
            own = (self.sessions.get(sid) or {}).get("project_dir")
            if not own and self.root(sid) != sid:
                own = (self.sessions.get(self.root(sid)) or {}).get("project_dir")
            self._projects[sid] = self._fold(own) or NO_PROJECT
        return self._projects[sid]

    def branch(self, sid: int) -> str:
        own = (self.sessions.get(sid) or {}).get("git_branch")
        if not own and self.root(sid) != sid:
            own = (self.sessions.get(self.root(sid)) or {}).get("git_branch")
        return str(own) if own else NO_BRANCH

    def selects(self, sid: int, agent: str | None, project: str | None, branch: str | None) -> bool:
        """Whether a session passes the report's filters."""
        if agent is not None and self.agent(sid) != agent:
            return False
        if branch is not None and self.branch(sid) != branch:
            return False
        return project is None or _project_matches(self.project(sid), project)

    def session_row(self, sid: int, subagents: int) -> dict[str, Any]:
        """The key and facts of a session row."""
        session = self.sessions.get(sid) or {}
        return {
            "session_key": session.get("session_key"),
            "agent_session_id": session.get("agent_session_id"),
            "session_id": sid,
            "agent": session.get("agent"),
            "project": self.project(sid),
            "branch": self.branch(sid),
            "title": session.get("title"),
            "started_at": session.get("started_at"),
            "last_activity": session.get("last_activity"),
            "parent_session_id": session.get("parent_session_id"),
            "subagents": subagents,
        }


def _project_matches(folded: str, wanted: str) -> bool:
    """``--project`` names the repository folder, a folder above it, or its base name."""
    wanted = wanted.rstrip("/")
    if folded == wanted or folded.rsplit("/", 1)[-1] == wanted:
        return True
    return folded.startswith(wanted + "/")


def calendar_key(group: str, day: date) -> str:
    """The row key of a local day in a calendar group (weeks start on Monday, ISO)."""
    if group == "daily":
        return day.isoformat()
    if group == "weekly":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.strftime("%Y-%m")


def day_starts(zone: tzinfo, first: str | None, last: str | None) -> tuple[date, list[str]]:
    """The local day of ``first`` and the store timestamps of each following local midnight up
    to the day of ``last``: the bounds ``store.reads.usage.usage_by_day`` numbers days by."""
    if first is None or last is None:
        return datetime.now(zone).date(), []
    day = _parse(first).astimezone(zone).date()
    end = _parse(last).astimezone(zone).date()
    starts = []
    for offset in range(1, (end - day).days + 1):
        midnight = datetime.combine(day + timedelta(days=offset), time(), tzinfo=zone)
        starts.append(format_timestamp(midnight))
    return day, starts


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
