"""Test-only crash points at the statement boundaries inside one commit.

The central guarantee — a file's offset is committed in the same transaction as its events —
is proved by a test that stops the writer at every boundary of one commit and checks, after a
restart, that no line is lost or stored twice. The test arms one point through the environment:

    AGENT_VIZ_TEST_CRASH_POINT=<point>[:kill|:fail][:<nth>]

``kill`` (the default) SIGKILLs the process the ``nth`` (default 1st) time the point is
reached; ``fail`` raises ``sqlite3.OperationalError`` there once, as a full disk would. The
variable is read once at import; unarmed, a point costs one comparison. It is not a setting:
nothing but the tests sets it (its name lacks the ``AGENT_VIZ_MONITOR_`` config prefix).
"""

from __future__ import annotations

import os
import signal
import sqlite3

__all__ = ["POINTS", "crash_point"]

ENV = "AGENT_VIZ_TEST_CRASH_POINT"
POINTS = ("after_sessions", "after_events", "after_completions", "after_problems",
          "after_offsets", "before_commit", "after_commit")  # fmt: skip


def _parse(spec: str | None) -> tuple[str, str, int] | None:
    if not spec:
        return None
    parts = spec.split(":")
    name = parts[0]
    mode = parts[1] if len(parts) > 1 and parts[1] else "kill"
    nth = int(parts[2]) if len(parts) > 2 else 1
    if name not in POINTS or mode not in ("kill", "fail") or nth < 1:
        raise ValueError(f"{ENV}={spec!r}: expected <point>[:kill|:fail][:<nth>], "
                         f"points: {', '.join(POINTS)}")  # fmt: skip
    return name, mode, nth


_ARMED = _parse(os.environ.get(ENV))
_reached = 0


def crash_point(name: str) -> None:
    """Stop here if a test armed this point (see the module docstring)."""
    global _reached  # noqa: PLW0603 - one process-wide counter for a test hook
    if _ARMED is None or _ARMED[0] != name:
        return
    _reached += 1
    if _reached != _ARMED[2]:
        return
    if _ARMED[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise sqlite3.OperationalError(f"crash point {name} (test hook)")
