"""Running per-session totals (events, tool calls, errors, tokens) and costs, kept in memory.

Summing a million events per ``/api/sessions`` request would take a second; events are
append-only, so the totals are summed once at start and then only over rows past the cursor
(``reads.session_totals``). Costs come from the usage report's ``session_costs`` and are
recomputed only for sessions whose tokens moved since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from store.connection import Connection
from store.reads.dashboard import max_event_id, session_totals

__all__ = ["SessionTotals"]

CostFunction = Callable[[list[int]], dict[int, float | None]]


class SessionTotals:
    """Per-session sums, as ``reads.session_totals`` orders its columns (without the id)."""

    def __init__(self, costs: CostFunction) -> None:
        self._sums: dict[int, list[int]] = {}
        self._cursor = 0
        self._identity: int | None = None
        self._lock = threading.Lock()
        self._costs = costs
        self._cost_cache: dict[int, tuple[tuple[int, ...], float | None]] = {}

    def refresh(self, conn: Connection, identity: int | None) -> None:
        """Add the rows committed since the last refresh (all rows again when the database
        file was replaced: ``identity`` is its inode)."""
        with self._lock:
            top = max_event_id(conn)
            if identity != self._identity or top < self._cursor:
                self._sums.clear()
                self._cost_cache.clear()
                self._cursor = 0
                self._identity = identity
            if top == self._cursor:
                return
            for row in session_totals(conn, self._cursor, top):
                sums = self._sums.setdefault(int(row[0]), [0] * 8)
                for index, value in enumerate(row[1:]):
                    sums[index] += int(value or 0)
            self._cursor = top

    def sums(self, session_id: int) -> Sequence[int] | None:
        """The session's totals (None when it has no events yet)."""
        with self._lock:
            found = self._sums.get(session_id)
            return tuple(found) if found is not None else None

    def costs(self, session_ids: list[int]) -> dict[int, float | None]:
        """Cost per session; only sessions whose tokens changed are priced again."""
        with self._lock:
            keys = {sid: tuple(self._sums.get(sid, ())[3:]) for sid in session_ids}
            stale = [sid for sid in session_ids
                     if self._cost_cache.get(sid, ((-1,), None))[0] != keys[sid]]  # fmt: skip
        fresh = self._costs(stale) if stale else {}
        with self._lock:
            for sid in stale:
                self._cost_cache[sid] = (keys[sid], fresh.get(sid))
            return {sid: self._cost_cache[sid][1] for sid in session_ids}
