"""Linux's ``/proc`` read for process identity, and the argv test that names an agent.

Kept apart from ``process`` (the identity model, liveness, psutil elsewhere) because the
``hook`` command walks its ancestry with these on every Claude Code hook event, and its start-up
is its cost: this module imports only ``os``, ``sys`` and ``time`` (no ``re``, no
``msgspec``, no agents table). ``process`` builds its readers and ``recognize_agent`` on
these, so there is one reading of ``/proc/<pid>/stat`` and one recognition rule.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: ``collections.abc`` loads ``collections``
    from collections.abc import Mapping, Sequence

__all__ = [
    "LINUX",
    "agent_of_argv",
    "boot_id",
    "boot_time",
    "btime",
    "clock_ticks",
    "is_interpreter",
    "read_argv",
    "read_stat",
]

LINUX = sys.platform.startswith("linux")
_INTERPRETERS = ("node", "nodejs", "bun", "deno")
_SCRIPT_SUFFIXES = (".js", ".mjs", ".cjs", ".py", ".exe")
# Values fixed for the process's life, read once (``functools.cache`` would cost start-up).
_BOOT_ID: list[str | None] = []
_BOOT_TIME: list[float] = []
_BTIME: list[float] = []
_CLOCK_TICKS: list[int] = []


# -- recognition (pure) ------------------------------------------------------------------------


def is_interpreter(name: str) -> bool:
    """``node``, ``nodejs``, ``bun``, ``deno`` or ``python[0-9.]*``, optionally ``.exe``."""
    name = name.removesuffix(".exe")
    if name in _INTERPRETERS:
        return True
    return name.startswith("python") and all(c in "0123456789." for c in name[6:])


def _agent_of_path(
    path: str, binaries: Mapping[str, str], packages: Sequence[tuple[str, str]]
) -> str | None:
    base = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in _SCRIPT_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    if base in binaries:
        return binaries[base]
    lowered = path.replace("\\", "/")
    return next((agent for marker, agent in packages if marker in lowered), None)


def agent_of_argv(
    argv: Sequence[str], binaries: Mapping[str, str], packages: Sequence[tuple[str, str]]
) -> str | None:
    """The agent ``argv`` runs, given program names (argv basename → agent) and npm package
    markers (path part → agent), or None.

    ``claude --resume x`` and ``/usr/bin/node /usr/lib/node_modules/.bin/codex`` are agents;
    ``node server.js``, ``vim claude.md`` and ``python -m claude_tools`` are not.
    """
    if not argv or not argv[0]:
        return None
    direct = _agent_of_path(argv[0], binaries, packages)
    if direct is not None:
        return direct
    if not is_interpreter(argv[0].replace("\\", "/").rsplit("/", 1)[-1].lower()):
        return None
    for arg in argv[1:]:
        if not arg.startswith("-"):  # skips interpreter options (node --no-warnings, python -u)
            return _agent_of_path(arg, binaries, packages)
    return None


# -- /proc ---------------------------------------------------------------------------------------


def read_stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, start ticks) from /proc/<pid>/stat, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    head, sep, tail = data.rpartition(b")")
    if not sep:
        return None
    fields = tail.split()
    try:
        comm = head.split(b"(", 1)[1].decode("utf-8", "replace")
        return comm, int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def read_argv(pid: int) -> tuple[str, ...]:
    """The argv of ``pid`` (/proc/<pid>/cmdline), or () when it cannot be read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return ()
    return tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


def boot_id() -> str | None:
    """This boot's id (Linux), else None."""
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
                _BOOT_ID.append(handle.read().strip() or None)
        except OSError:
            _BOOT_ID.append(None)
    return _BOOT_ID[0]


def boot_time() -> float:
    """When this machine booted, to the microsecond: now minus ``CLOCK_BOOTTIME`` (the clock
    process start ticks count on). ``btime`` in /proc/stat is whole seconds, which put every
    ``pid_started_at`` up to a second early; it remains the fallback."""
    if not _BOOT_TIME:
        boottime = getattr(time, "CLOCK_BOOTTIME", None)
        value = time.time() - time.clock_gettime(boottime) if boottime is not None else btime()
        _BOOT_TIME.append(value)
    return _BOOT_TIME[0]


def btime() -> float:
    """Whole seconds, the same in every process: what releases before the exact boot time
    derived ``pid_started_at`` from (stored values of theirs still compare against it)."""
    if not _BTIME:
        with open("/proc/stat", encoding="ascii") as handle:
            found = [float(line.split()[1]) for line in handle if line.startswith("btime ")]
        if not found:
            raise OSError("no btime in /proc/stat")
        _BTIME.append(found[0])
    return _BTIME[0]


def clock_ticks() -> int:
    """Clock ticks per second (``SC_CLK_TCK``), the unit of a process's start time."""
    if not _CLOCK_TICKS:
        _CLOCK_TICKS.append(int(os.sysconf("SC_CLK_TCK")))
    return _CLOCK_TICKS[0]
