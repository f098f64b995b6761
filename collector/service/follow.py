"""``events --follow``: stream events as the daemon commits them, like ``tail -f``.

Polling a read-only connection is cheap when nothing changes: ``PRAGMA data_version`` moves only
when another connection commits, so an idle database costs one pragma per tick and no query.
New rows are found by ``id`` (rows are appended in commit order), bounded above by the
``MAX(id)`` read first, so the next tick starts exactly where this one stopped and rows that do
not match the filters are never scanned twice. Each read is a short autocommit transaction: the
follower never holds a snapshot that would stop the writer's WAL checkpoints.

Tool calls are completed in place (pending → success/error) after they were streamed; the stream
shows each row once, as it was when first committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from store import EventStore
from store.reads.dashboard import data_version, max_event_id
from store.reads.follow import event_filter, events_between
from store.reads.follow import recent_events as _recent

__all__ = ["follow_events", "recent_events"]

Row = dict[str, Any]


def recent_events(
    store: EventStore, session: int | str | None, filters: Mapping[str, Any], limit: int
) -> tuple[list[Row], int]:
    """The last ``limit`` matching events (oldest first) and the id to follow from."""
    return _recent(store, event_filter(store, session, filters), limit)


def follow_events(
    store: EventStore,
    session: int | str | None,
    filters: Mapping[str, Any],
    after_id: int,
    interval: float = 0.2,
) -> Iterator[list[Row]]:
    """Yield each batch of matching events committed after ``after_id``; runs until stopped."""
    conn = store.connection
    match = event_filter(store, session, filters)
    version = data_version(conn)
    while True:
        time.sleep(interval)
        now = data_version(conn)
        if now == version:
            continue
        version = now
        top = max_event_id(conn)
        if top <= after_id:
            continue
        rows = events_between(store, match, after_id, top)
        after_id = top
        if rows:
            yield rows
