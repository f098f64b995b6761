"""Process identity, agent recognition by argv, and ancestry.

Identity (../shared/docs/service-conventions.md §6.1): operating systems recycle pids, so a pid
alone names nothing. A process is ``(pid, start time)``, plus the boot id on Linux
(``/proc/sys/kernel/random/boot_id``): the same pid and start tick after a reboot is another
process. On Linux the start time is read exactly as ``/proc/<pid>/stat`` field 22 (clock ticks
since boot, the value Claude Code stores as ``procStart``); the wall-clock ``started_at`` is
derived from it for humans and for the ``sessions.pid_started_at`` column. psutil computes the
same wall-clock value from a boot time it reads once per process, and that boot time moves when
the clock is stepped, so values persisted by another process compare with a tolerance
(``STORED_TOLERANCE``) while live identities compare ticks exactly.

Recognition (§6.2): match argv, not ``comm``. An agent is a process whose ``argv[0]`` basename
is ``claude``, ``codex``, ``copilot`` or ``gemini``, or an interpreter (node, bun, deno, python)
whose first non-option argument is such a script or lives in the agent's npm package. Recent
macOS builds of Claude Code set ``comm`` to the version string, so ``comm`` is only used to
decide which processes are worth reading argv for (``worth_reading``).

Pure parts (``recognize_agent``, ``worth_reading``, ``ProcessIdentity.matches``) take values;
the readers below them touch ``/proc`` (Linux) or psutil (elsewhere) and return None for a
process that is gone or not readable.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from collector.tracker import procfs
from collector.tracker.procfs import agent_of_argv, is_interpreter
from config import agents
from config.agents import Agent

__all__ = [
    "STORED_TOLERANCE",
    "ProcessIdentity",
    "ProcessInfo",
    "ancestry",
    "boot_id",
    "is_alive",
    "read_cwd",
    "read_identity",
    "read_info",
    "recognize_agent",
    "stored_identity_alive",
    "worth_reading",
]

_VERSION_COMM = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+")
STORED_TOLERANCE = 1.0  # seconds; see the module docstring
_TICK_SLACK = 0.015  # a start tick is 10 ms; stored values keep milliseconds
_LINUX = procfs.LINUX


# -- pure --------------------------------------------------------------------------------------


@functools.cache
def _recognisers(table: tuple[Agent, ...]) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """The agents table's program names (argv basename → agent) and npm package markers (an
    entry script may have another name: cli.js, index.js, …), built once per table."""
    binaries = {binary: agent.name for agent in table for binary in agent.binaries}
    packages = tuple((marker, agent.name) for agent in table for marker in agent.packages)
    return binaries, packages


def recognize_agent(argv: Sequence[str]) -> str | None:
    """The agent ``argv`` runs (``claude-code``, ``codex``, …), or None.

    ``claude --resume x`` and ``/usr/bin/node /usr/lib/node_modules/.bin/codex`` are agents;
    ``node server.js``, ``vim claude.md`` and ``python -m claude_tools`` are not.
    """
    return agent_of_argv(argv, *_recognisers(agents.AGENTS))


def worth_reading(comm: str | None) -> bool:
    """Whether a process named ``comm`` may be an agent, so its argv is worth a read."""
    if not comm:
        return False
    name = comm.lower()
    return (
        name in _recognisers(agents.AGENTS)[0]
        or is_interpreter(name)
        or bool(_VERSION_COMM.match(name))
        or name in ("main", "mainthread")  # node renames its main thread on some systems
    )


class ProcessIdentity(msgspec.Struct, frozen=True):
    """One process, unambiguously: pid plus start time (plus boot id on Linux)."""

    pid: int
    started_at: float  # wall-clock start, epoch seconds
    start_ticks: int | None = None  # /proc/<pid>/stat field 22 (Linux)
    boot_id: str | None = None

    def matches(self, other: ProcessIdentity) -> bool:
        """Same process: same pid and start (exact ticks and boot when both sides have them)."""
        if self.pid != other.pid:
            return False
        if self.boot_id and other.boot_id and self.boot_id != other.boot_id:
            return False
        if self.start_ticks is not None and other.start_ticks is not None:
            return self.start_ticks == other.start_ticks
        return abs(self.started_at - other.started_at) <= STORED_TOLERANCE

    @property
    def started_iso(self) -> str:
        """``started_at`` in the contract's timestamp form (``sessions.pid_started_at``)."""
        # Imported here: ``store`` loads the whole store package, which the ``hook`` command
        # (it imports this module on every Claude Code hook event) must not pay for.
        from store.timestamps import format_timestamp

        return format_timestamp(datetime.fromtimestamp(self.started_at, tz=UTC))

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the spool."""
        return {"pid": self.pid, "started_at": self.started_at,
                "start_ticks": self.start_ticks, "boot_id": self.boot_id}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> ProcessIdentity | None:
        """The identity in ``data`` (from ``to_dict``), or None when it is malformed."""
        if not isinstance(data, dict):
            return None
        pid, started = data.get("pid"), data.get("started_at")
        ticks, boot = data.get("start_ticks"), data.get("boot_id")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return None
        if not isinstance(started, int | float) or isinstance(started, bool):
            return None
        return cls(
            pid,
            float(started),
            ticks if isinstance(ticks, int) and not isinstance(ticks, bool) else None,
            boot if isinstance(boot, str) and boot else None,
        )


class ProcessInfo(msgspec.Struct, frozen=True):
    """What one read of a process gave: identity, parent, name and argv."""

    identity: ProcessIdentity
    ppid: int
    comm: str
    argv: tuple[str, ...]


# -- readers -----------------------------------------------------------------------------------


# The readers of /proc live in ``procfs`` (the hook uses them without this module); the
# private names stay for callers of the earlier layout.
boot_id = procfs.boot_id
_boot_time, _btime, _clock_ticks = procfs.boot_time, procfs.btime, procfs.clock_ticks
_read_stat, _read_argv = procfs.read_stat, procfs.read_argv


def read_info(pid: int, *, with_argv: bool = True) -> ProcessInfo | None:
    """Identity, parent, name and (optionally) argv of ``pid``, or None when it is gone."""
    if pid <= 0:
        return None
    if _LINUX:
        stat = _read_stat(pid)
        if stat is None:
            return None
        comm, ppid, ticks = stat
        started = _boot_time() + ticks / _clock_ticks()
        identity = ProcessIdentity(pid, round(started, 2), ticks, boot_id())
        return ProcessInfo(identity, ppid, comm, _read_argv(pid) if with_argv else ())
    return _read_info_psutil(pid, with_argv)


def _read_info_psutil(pid: int, with_argv: bool) -> ProcessInfo | None:
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            identity = ProcessIdentity(pid, round(proc.create_time(), 2))
            argv: tuple[str, ...] = ()
            if with_argv:
                try:
                    argv = tuple(proc.cmdline())
                except psutil.AccessDenied:
                    argv = ()
            return ProcessInfo(identity, proc.ppid(), proc.name(), argv)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None


def read_cwd(pid: int) -> str | None:
    """The working directory of ``pid``, or None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        pass
    import psutil

    try:
        return str(psutil.Process(pid).cwd()) or None
    except (psutil.Error, OSError):
        return None


def read_identity(pid: int) -> ProcessIdentity | None:
    """The identity of the process that has ``pid`` now, or None."""
    info = read_info(pid, with_argv=False)
    return info.identity if info is not None else None


def is_alive(identity: ProcessIdentity) -> bool:
    """Is the process ``identity`` names still running (a reused pid is not)?"""
    now = read_identity(identity.pid)
    return now is not None and now.matches(identity) and not _is_zombie(identity.pid)


def _is_zombie(pid: int) -> bool:
    if not _LINUX:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def stored_identity_alive(pid: int, pid_started_at: str | None) -> ProcessIdentity | None:
    """The live process a stored ``(pid, pid_started_at)`` names, or None when it is gone.

    The stored start has no ticks. It was derived from the same start tick and boot time as the
    value read now, so the two agree to a tick or two, except that the boot time moves by whole
    seconds when the clock is stepped: equal fractions, at most 2 s apart. A value written by a
    release that took the boot time in whole seconds (``btime``) is compared against that.
    """
    if pid_started_at is None:
        return None
    try:
        stored = datetime.fromisoformat(pid_started_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    now = read_identity(pid)
    if now is None or _is_zombie(pid):
        return None
    diff = now.started_at - stored
    if abs(diff) <= 2.0 and abs(diff - round(diff)) <= 2 * _TICK_SLACK:
        return now
    if now.start_ticks is None or not _LINUX:
        return None
    try:  # an older release's value, from btime; compared exactly (the identities file
        legacy = _btime() + now.start_ticks / _clock_ticks()  # covers a stepped clock)
    except OSError:
        return None
    return now if abs(legacy - stored) <= 2 * _TICK_SLACK else None


def ancestry(pid: int, depth: int = 8) -> list[ProcessInfo]:
    """``pid``'s ancestors, nearest first, stopping at pid 1 or after ``depth`` levels."""
    out: list[ProcessInfo] = []
    info = read_info(pid)
    while info is not None and len(out) < depth:
        parent = info.ppid
        if parent <= 1:
            break
        info = read_info(parent)
        if info is not None:
            out.append(info)
    return out
