"""Which live agent process writes which session, when nothing exact says so.

Pure. The process scan finds agent processes and their working directories; a session is
theirs when its transcript is being appended in that directory since the process started
(``last_activity`` at or after the process's start). The directory test is the transcript's own
``cwd`` (``project_dir``) or, for Claude Code, the transcript folder's name, which is the cwd
with every non-alphanumeric character replaced by ``-`` (transcript-formats.md §1.1).

Several agents in one directory are ambiguous by nature (service-conventions.md §6.2: "newest
file" picks wrong). Here the i-th newest process is paired with the i-th newest session among
the ones it could own, which is right when agents are started one after another and each
starts writing soon after it starts; hooks and the agents' own records give the exact answer
and win over this guess.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import msgspec

from collector.tracker.process import ProcessIdentity

__all__ = ["AgentProcess", "Candidate", "claude_slug", "could_own", "pair"]

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_SLACK = 2.0  # seconds: transcript clocks and process start times are read separately


class AgentProcess(msgspec.Struct, frozen=True):
    """A live process that is (or was registered as) an agent."""

    identity: ProcessIdentity
    agent: str | None  # None: registered by an orchestrator without saying which agent
    cwd: str | None


class Candidate(msgspec.Struct, frozen=True):
    """A session a process could be writing."""

    session_id: int
    agent: str
    project_dir: str | None
    transcript_path: str | None
    first_activity: float | None
    last_activity: float | None


def claude_slug(path: str) -> str:
    """Claude Code's transcript folder name for a working directory."""
    return _NON_ALNUM.sub("-", path)


def _same_place(cwd: str, candidate: Candidate) -> bool:
    if candidate.project_dir and os.path.normpath(candidate.project_dir) == cwd:
        return True
    if candidate.agent == "claude-code" and candidate.transcript_path:
        folder = os.path.basename(os.path.dirname(candidate.transcript_path))
        return folder == claude_slug(cwd)
    return False


def could_own(process: AgentProcess, candidate: Candidate) -> bool:
    """Same agent, same directory, and the transcript moved since the process started."""
    if process.agent is not None and process.agent != candidate.agent:
        return False
    if not process.cwd or candidate.last_activity is None:
        return False
    if candidate.last_activity < process.identity.started_at - _SLACK:
        return False
    return _same_place(os.path.normpath(process.cwd), candidate)


def pair(
    processes: Sequence[AgentProcess], candidates: Sequence[Candidate]
) -> list[tuple[AgentProcess, Candidate]]:
    """Pairs (process, session): newest process with newest session it could own, and so on."""
    by_start = sorted(processes, key=lambda p: p.identity.started_at, reverse=True)
    by_first = sorted(
        candidates, key=lambda c: c.first_activity or c.last_activity or 0.0, reverse=True
    )
    taken: set[int] = set()
    out: list[tuple[AgentProcess, Candidate]] = []
    for process in by_start:
        for candidate in by_first:
            if candidate.session_id in taken or not could_own(process, candidate):
                continue
            taken.add(candidate.session_id)
            out.append((process, candidate))
            break
    return out
