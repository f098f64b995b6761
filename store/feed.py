"""The sink seam: what the writer tells anyone who wants committed data, right after COMMIT.

A subscriber (the PostgreSQL shipper, a live feed) gets a ``CommitSummary`` on the writer's
thread and must not block: it only notes that there is something new (sets an Event) and reads
the committed rows itself, through ``store/`` functions, from its own cursor. The summary is a
hint for waking up, never the data: a subscriber that misses one loses nothing.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

__all__ = ["CommitSubscriber", "CommitSummary"]


class CommitSummary(msgspec.Struct, frozen=True):
    """What one writer transaction changed."""

    first_event_id: int | None  # the new events' row ids, when any were inserted
    last_event_id: int | None
    session_ids: frozenset[int]  # sessions whose events or status changed
    completions: int  # tool results applied to call rows in place


class CommitSubscriber(Protocol):
    """Told after each commit; called on the writer's thread, so it must return at once."""

    def on_commit(self, summary: CommitSummary) -> None:
        """Note ``summary`` (e.g. set an Event that wakes the subscriber's own thread)."""
