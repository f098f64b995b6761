"""The agents' own per-process records: Claude Code's ``<config dir>/sessions/<pid>.json``.

Claude Code keeps one small JSON file per running process (its "concurrent sessions" registry)
in ``~/.claude/sessions/`` (``$CLAUDE_CONFIG_DIR/sessions``), removed on a clean exit and left
behind by a crash. Shape, as public sources show it (verified 2026, versions 2.1.1xx–2.1.27x):

    {"pid": 50224, "sessionId": "c172c2e6-…", "cwd": "/Users/u/src/x",
     "startedAt": 1781214817047, "procStart": "Thu Jun 11 21:53:36 2026", "version": "2.1.173",
     "kind": "interactive", "entrypoint": "cli", "status": "idle",
     "updatedAt": 1781216225729, "statusUpdatedAt": 1781216225729}

- ``status`` is ``busy`` | ``idle`` | ``waiting`` | ``shell``, with ``waitingFor`` such as
  ``"approve Bash"`` or ``"input needed"`` while waiting; present since about 2.1.139 and never
  written by Agent-SDK sessions (``entrypoint: "sdk-ts"``).
- ``procStart`` is the pid-reuse guard: on Linux ``/proc/<pid>/stat`` field 22 verbatim, on
  macOS ``ps -o lstart`` text. Older files lack it; ``startedAt`` (epoch ms) then bounds it.
- ``sessionId`` is **not** updated by ``/clear`` (anthropics/claude-code#36213, #53037) and
  names a session that may not be the written one after ``--continue``
  (sverrirsig/claude-control#10), so hooks outrank this record.
- Legacy ``pid-<n>.json`` files (``session_id``, ``cwd``) are orphans and are skipped.

The reader is tolerant and fail-open: a missing folder, an unreadable or malformed file, a
renamed field yields fewer records, never an error. Parsed files are cached by (mtime, size).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from collector.tracker.process import STORED_TOLERANCE, ProcessIdentity

__all__ = ["AgentRecord", "RecordReader", "parse_record", "record_names"]


class AgentRecord(msgspec.Struct, frozen=True):
    """One Claude Code process record."""

    pid: int
    session_id: str
    cwd: str | None = None
    status: str | None = None  # busy | idle | waiting | shell
    waiting_for: str | None = None
    status_at: float | None = None  # epoch seconds
    started_at: float | None = None  # epoch seconds (startedAt)
    proc_start: str | None = None

    @property
    def session_key(self) -> str:
        """Our session key for the record's session."""
        return f"claude-code:{self.session_id}"

    def names(self, identity: ProcessIdentity) -> bool:
        """Whether this record was written by the process ``identity`` (not a reused pid)."""
        if identity.pid != self.pid:
            return False
        if self.proc_start:
            if self.proc_start.isdigit() and identity.start_ticks is not None:
                return int(self.proc_start) == identity.start_ticks
            started = _lstart(self.proc_start)
            if started is not None:
                return abs(started - identity.started_at) <= STORED_TOLERANCE + 1.0
        if self.started_at is not None:
            # The record is written by the running process: it cannot predate it.
            return self.started_at >= identity.started_at - STORED_TOLERANCE
        return True


def _lstart(text: str) -> float | None:
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y").timestamp()
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _millis(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) / 1000.0


def parse_record(data: bytes) -> AgentRecord | None:
    """The record in ``data``, or None when it lacks a pid or a session id."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    pid, session = obj.get("pid"), _text(obj.get("sessionId"))
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or session is None:
        return None
    start = obj.get("procStart")
    return AgentRecord(
        pid=pid,
        session_id=session,
        cwd=_text(obj.get("cwd")),
        status=_text(obj.get("status")),
        waiting_for=_text(obj.get("waitingFor")),
        status_at=_millis(obj.get("statusUpdatedAt")) or _millis(obj.get("updatedAt")),
        started_at=_millis(obj.get("startedAt")),
        proc_start=str(start) if isinstance(start, str | int) and start != "" else None,
    )


def record_names(names: list[str]) -> list[str]:
    """The current-format file names (``<pid>.json``) among ``names``."""
    return [n for n in names if n.endswith(".json") and n[: -len(".json")].isdigit()]


class RecordReader:
    """Reads a registry folder, re-parsing only files that changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int], AgentRecord | None]] = {}

    def read(self) -> list[AgentRecord]:
        """Every parseable record now in the folder."""
        try:
            names = record_names(os.listdir(self.folder))
        except OSError:
            self._cache.clear()
            return []
        out: list[AgentRecord] = []
        fresh: dict[str, tuple[tuple[int, int], AgentRecord | None]] = {}
        for name in names:
            entry = self._read_one(name)
            if entry is None:
                continue
            fresh[name] = entry
            if entry[1] is not None:
                out.append(entry[1])
        self._cache = fresh
        return out

    def _read_one(self, name: str) -> tuple[tuple[int, int], AgentRecord | None] | None:
        path = self.folder / name
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return stamp, parse_record(data)
