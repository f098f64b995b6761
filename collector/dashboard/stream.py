"""``GET /api/events/stream``: server-sent events of committed rows, resumable by row id.

One ``CommitSignal`` per process polls ``PRAGMA data_version`` on its own read-only connection
(it moves only when another connection commits, so an idle store costs one pragma a tick) and
wakes every open stream. Each stream then reads the rows past its own cursor, bounded by the
newest id read first (``reads.events_after``), and sends each as ``event: event`` with
``id: <row id>``; the browser echoes the last id in ``Last-Event-ID`` when it reconnects, so a
resumed stream has no gap and no repeat.

``?fields=brief`` sends only what a list of sessions needs to notice activity (id, session, type,
tool, status, time, and a status change's details), so a Now page does not pull every row's
arguments through a backfill.

Tool calls are completed in place by the daemon (pending → success | error) after they were
sent. The daemon is another process, so the stream keeps the ids of the pending rows it sent
(and of those pending when it started, which the page loaded through the API), re-reads them on
every commit and sends each completed one again as ``event: update`` without an ``id:`` line
(the resume cursor must not move backwards). A call that completed while no stream was open is
not re-sent: the page re-reads its pending rows when its stream reconnects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from collector.dashboard.api import Context, JSONResponse
from config.errors import StoreError
from store.connection import Connection, open_database
from store.reads import dashboard as reads

__all__ = ["CommitSignal", "stream_endpoint"]

BATCH = 500
MAX_PENDING = 5000
PENDING_WINDOW = 5000  # an unfiltered stream watches the pending calls among this many last rows
POLL_SECONDS = 0.05
PING_SECONDS = 15
RETRY_MS = 1000
Row = dict[str, Any]
BRIEF = ("id", "session_id", "event_type", "tool_name", "status", "timestamp", "tool_call_id")


class CommitSignal:
    """Wakes the streams when the daemon commits; one poller for the whole process."""

    def __init__(self, path: Path, interval: float = POLL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.generation = 0
        self._conn: Connection | None = None
        self._inode: int | None = None
        self._version: tuple[int | None, int] | None = None
        self._changed = anyio.Event()

    async def run(self) -> None:
        """Poll until cancelled; a store that is missing or unreadable is retried."""
        while True:
            version = await anyio.to_thread.run_sync(self._read_version)
            if version != self._version:
                self._version = version
                self.generation += 1
                self._changed.set()
                self._changed = anyio.Event()
            await anyio.sleep(self.interval)

    async def wait(self, seen: int, timeout: float) -> int:
        """Until the generation moves past ``seen`` (or ``timeout``); the new generation."""
        if self.generation == seen:
            with anyio.move_on_after(timeout):
                await self._changed.wait()
        return self.generation

    def close(self) -> None:
        """Close the polling connection; idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read_version(self) -> tuple[int | None, int] | None:
        """(inode, data_version): moves on every commit, and when the file is replaced."""
        try:
            inode = reads.inode_of(self.path)
            if self._conn is not None and inode != self._inode:
                self.close()
            if self._conn is None:
                self._conn = open_database(self.path, readonly=True)
                self._inode = inode
            return inode, reads.data_version(self._conn)
        except StoreError:
            self.close()
            return None


class _Cursor:
    """One stream's position: the last row id sent and the pending tool calls it showed."""

    def __init__(self, after_id: int, session_id: int | None, brief: bool) -> None:
        self.after_id = after_id
        self.session_id = session_id
        self.brief = brief
        self.pending: dict[int, None] = {}

    def watch_pending(self, conn: Connection) -> None:
        """Also watch the calls already pending at the start: the page showed them (loaded
        through the API, or sent before a reconnect), so their completion must reach it too."""
        for row_id in reads.pending_ids(conn, self.session_id, self.after_id, PENDING_WINDOW):
            self.pending[row_id] = None

    def read(self, ctx: Context) -> tuple[list[Row], list[Row]]:
        """New rows past the cursor, then the sent pending rows that have completed since."""
        conn = ctx.conn()
        top = reads.max_event_id(conn)
        if top < self.after_id:  # ids only grow: the database file was replaced
            self.after_id = 0
            self.pending.clear()
        rows = reads.events_after(conn, self.after_id, top, self.session_id, BATCH)
        for row in rows:
            if row.get("status") == "pending":
                self.pending[row["id"]] = None
        while len(self.pending) > MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        done = []
        if self.pending:
            current = reads.events_by_ids(conn, list(self.pending))
            done = [row for row in current if row.get("status") != "pending"]
            for row in done:
                self.pending.pop(row["id"], None)
        if rows:
            self.after_id = rows[-1]["id"]
        if self.brief:
            return [_brief(row) for row in rows], [_brief(row) for row in done]
        return rows, done


def _brief(row: Row) -> Row:
    out = {key: row.get(key) for key in BRIEF}
    if row.get("event_type") == "status_change":
        out["tool_arguments"] = row.get("tool_arguments")
    return out


def _start(request: Request, ctx: Context) -> _Cursor | Response:
    """The cursor from ``Last-Event-ID`` (a reconnect), else ``?after_id``, else now."""
    query = request.query_params
    unknown = set(query) - {"session", "after_id", "fields", "token"}
    if unknown:
        return _bad(f"unknown parameter {sorted(unknown)[0]!r}; takes: session, after_id, fields")
    if query.get("fields", "all") not in ("all", "brief"):
        return _bad("fields: valid: all, brief")
    session = query.get("session")
    if session is not None and not (session.isdigit() and len(session) < 19):
        return _bad(f"session: must be a session id (integer), got {session[:40]!r}")
    raw = request.headers.get("last-event-id") or query.get("after_id")
    if raw is not None and not (raw.isdigit() and len(raw) < 19):
        return _bad(f"Last-Event-ID/after_id: must be a row id (integer), got {raw[:40]!r}")
    try:
        conn = ctx.conn()
        if session is not None and reads.session_row(conn, int(session)) is None:
            return JSONResponse({"error": f"no session with id {session}"}, status_code=404)
        after = int(raw) if raw is not None else reads.max_event_id(conn)
        cursor = _Cursor(after, int(session) if session is not None else None,
                         query.get("fields") == "brief")  # fmt: skip
        cursor.watch_pending(conn)
    except StoreError as exc:
        return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)
    return cursor


def _bad(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


async def _events(ctx: Context, signal: CommitSignal, cursor: _Cursor) -> AsyncIterator[Any]:
    seen = signal.generation
    yield ServerSentEvent(comment="stream open", retry=RETRY_MS)
    while True:
        try:
            rows, done = await anyio.to_thread.run_sync(cursor.read, ctx)
        except StoreError:
            rows, done = [], []  # the daemon is replacing or recovering the store: try again
        for row in rows:
            yield ServerSentEvent(data=_json(row), event="event", id=str(row["id"]))
        for row in done:
            yield ServerSentEvent(data=_json(row), event="update")
        if len(rows) < BATCH:
            seen = await signal.wait(seen, PING_SECONDS)


def _json(row: Row) -> str:
    return orjson.dumps(row).decode()


def stream_endpoint(ctx: Context, signal: CommitSignal) -> Any:
    """The ``/api/events/stream`` handler bound to ``ctx`` and ``signal``."""

    async def endpoint(request: Request) -> Response:
        start = await anyio.to_thread.run_sync(_start, request, ctx)
        if isinstance(start, Response):
            return start
        return EventSourceResponse(
            _events(ctx, signal, start), ping=PING_SECONDS, send_timeout=30,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )  # fmt: skip

    return endpoint
