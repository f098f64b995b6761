"""What the tracker has decided and not yet handed to the writer: status verdicts, permission
waits, and the spool records to delete once what they caused is committed.

``flush()`` puts it all on the writer in one chunk. When the writer's queue stays full nothing
is lost or half-sent: verdicts of tracked sessions are simply decided again next tick, while
records no session can re-derive (a registration that died alone, a wait) are kept for the
next flush, as are the spool files. Only the tracker thread uses it.
"""

from __future__ import annotations

import queue
from pathlib import Path

from collector.log import get_logger
from collector.tracker.model import Tracked
from collector.tracker.session_status import TERMINAL
from collector.tracker.spool import remove
from store.records import Chunk, ChunkSink, SessionStatus, ToolWait

__all__ = ["Outbox"]

_log = get_logger(component="tracker")
_PUT_TIMEOUT = 0.5


class Outbox:
    """Verdicts ``(session or None, status, stamp)``, waits and spool paths to finish."""

    def __init__(self, sink: ChunkSink) -> None:
        self.sink = sink
        self.statuses: list[tuple[Tracked | None, SessionStatus, float]] = []
        self.waits: list[ToolWait] = []
        self.finished: list[Path] = []  # SpoolIntake appends to this very list

    def flush(self) -> None:
        """Hand everything to the writer (or keep what cannot be decided again)."""
        statuses, finished, waits = self.statuses, list(self.finished), self.waits
        self.statuses, self.waits = [], []
        self.finished.clear()
        if not statuses and not waits:
            for path in finished:
                remove(path)
            return
        chunk = Chunk(records=[*(status for _, status, _ in statuses), *waits],
                      on_commit=lambda: _remove_all(finished))  # fmt: skip
        try:
            self.sink.put(chunk, timeout=_PUT_TIMEOUT)
        except queue.Full:  # nothing is written: sessions are decided again next tick, and
            self.finished.extend(finished)  # records of no tracked session are kept for it
            self.statuses = [item for item in statuses if item[0] is None]
            self.waits = waits
            return
        for t, status, stamp in statuses:
            if t is not None:
                _written(t, status, stamp)


def _written(t: Tracked, status: SessionStatus, stamp: float) -> None:
    if status.status != t.stored_status:
        _log.info("session_status_changed", session=t.row.key, status=status.status,
                  previous=t.stored_status, reason=status.reason, pid=status.pid)  # fmt: skip
    t.stored_status = status.status
    t.stored_pid = status.pid if status.pid is not None else t.stored_pid
    t.stored_tmux = status.tmux_target or t.stored_tmux
    t.fields_pending = False
    if status.status in TERMINAL:
        t.exited_at, t.row.ended_at = None, stamp


def _remove_all(paths: list[Path]) -> None:
    """Runs on the writer thread after the commit: it must never raise."""
    for path in paths:
        remove(path)
