"""The JSON API (GET only): sessions, a session's events, files, commands and usage.

Each handler checks its parameters first (``params``; a bad one is a 400 with a message), reads
through ``store.reads.dashboard`` on this thread's read-only connection, and shapes the answer
(``shapes``). List answers are ``{"items": [...], ...}``; an unknown session is a 404.
Handlers are plain functions: Starlette runs them in its thread pool, so a slow read never
stalls the event loop that feeds the streams.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.dashboard import params, shapes
from collector.dashboard.totals import SessionTotals
from collector.reports.usage import UsageQuery, build_usage
from config.agents import names as agent_names
from config.errors import StoreError
from store.connection import Connection
from store.event_store import STATUSES
from store.reads import dashboard as reads
from store.reads.lookups import command_spread

__all__ = ["Context", "JSONResponse", "routes"]

Row = dict[str, Any]
_STATUSES = tuple(sorted(STATUSES))
# The usage report's groups (../shared/CONTRACT.md, "Usage reports").
USAGE_GROUPS = ("daily", "weekly", "monthly", "session", "project", "branch", "model", "blocks")


class JSONResponse(Response):
    """orjson-encoded JSON (non-ASCII kept, any key order)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


@dataclass
class Context:
    """What every handler needs: the database, its read connections and the running totals."""

    db_path: pathlib.Path
    reads: reads.ReadConnections
    totals: SessionTotals

    def conn(self) -> Connection:
        """This thread's read-only connection."""
        return self.reads.get()

    def refresh_totals(self, conn: Connection) -> None:
        """Bring the running totals up to the last commit."""
        self.totals.refresh(conn, reads.inode_of(self.db_path))


class NotFoundError(LookupError):
    """The path names a session that does not exist."""


def _endpoint(ctx: Context, handler: Callable[[Context, Request], Any]) -> Callable[..., Any]:
    def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(handler(ctx, request))
        except params.ParamError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except StoreError as exc:
            return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)

    return endpoint


def _now() -> tuple[datetime, Any]:
    now = datetime.now(UTC)
    return now, now.astimezone().tzinfo or UTC


def list_sessions(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions``: sessions with totals, cost and current tool, newest first."""
    query = request.query_params
    params.check_known(query, ("status", "agent", "project", "since", "limit", "offset"))
    now, tz = _now()
    statuses = params.choices(query, "status", _STATUSES)
    agents = params.choices(query, "agent", (*agent_names(), "unknown"))
    if len(agents) > 1:
        raise params.ParamError("agent: give one agent")
    since = params.since(query, "since", now, tz)
    limit = params.integer(query, "limit", 500, 1, 5000)
    offset = params.integer(query, "offset", 0, 0, 10**9)
    conn = ctx.conn()
    ctx.refresh_totals(conn)
    rows, total = reads.session_rows(conn, statuses=statuses, agent=agents[0] if agents else None,
                                     project=params.text(query, "project"), since=since,
                                     limit=limit, offset=offset)  # fmt: skip
    items = _items(ctx, conn, rows)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _items(ctx: Context, conn: Connection, rows: list[Row]) -> list[Row]:
    live = [row["id"] for row in rows if row["status"] in ("running", "waiting", "idle")]
    last = reads.last_tool_calls(conn, live)
    costs = ctx.totals.costs([row["id"] for row in rows])
    return [shapes.session_item(row, ctx.totals.sums(row["id"]), costs.get(row["id"]),
                                last.get(row["id"])) for row in rows]  # fmt: skip


def _session(ctx: Context, request: Request) -> tuple[Connection, Row]:
    raw = request.path_params["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise params.ParamError(f"session id must be a positive integer, got {raw[:40]!r}")
    conn = ctx.conn()
    row = reads.session_row(conn, int(raw))
    if row is None:
        raise NotFoundError(f"no session with id {raw}")
    return conn, row


def get_session(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}``: the session item plus its subagents."""
    params.check_known(request.query_params, ())
    conn, row = _session(ctx, request)
    ctx.refresh_totals(conn)
    kids, _ = reads.session_rows(conn, parent_id=row["id"], limit=5000)
    item = _items(ctx, conn, [row])[0]
    item["children"] = _items(ctx, conn, kids)
    return item


def session_events(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}/events``: a page of events in id order after ``after_id``;
    ``fields=compact`` leaves out the raw data and arguments (what the Session page loads)."""
    query = request.query_params
    params.check_known(query, ("event_type", "tool_name", "status", "after_id", "limit",
                               "fields"))  # fmt: skip
    compact = (params.choices(query, "fields", ("all", "compact")) or ["all"])[0] == "compact"
    after_id = params.integer(query, "after_id", 0, 0, 2**62)
    limit = params.integer(query, "limit", 1000, 1, 20000)
    filters = {name: value for name in reads.EVENT_FILTERS
               if (value := params.text(query, name)) is not None}  # fmt: skip
    conn, row = _session(ctx, request)
    top = reads.max_event_id(conn)
    items = reads.event_page(conn, row["id"], filters, after_id, limit, compact=compact)
    following = items[limit - 1]["id"] if len(items) > limit else None
    del items[limit:]
    return {"items": items, "next_after_id": following, "stream_from": top}


def file_activity(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}/file-activity``: the ``file_activity`` view for the session."""
    params.check_known(request.query_params, ())
    conn, row = _session(ctx, request)
    return {"items": reads.file_activity(conn, row["id"])}


def file_tree(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}/file-tree``: the session's files nested by folder."""
    params.check_known(request.query_params, ())
    conn, row = _session(ctx, request)
    return shapes.file_tree(reads.file_activity(conn, row["id"]))


def command_stats(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}/command-stats``: per category count, p50/p95, failure rate."""
    params.check_known(request.query_params, ())
    conn, row = _session(ctx, request)
    stats = reads.command_stats(conn, row["id"])
    return {"items": shapes.command_stats(stats, command_spread(conn, row["id"]))}


def session_usage(ctx: Context, request: Request) -> Row:
    """``GET /api/sessions/{id}/usage``: the session's token records over time."""
    params.check_known(request.query_params, ())
    conn, row = _session(ctx, request)
    return {"items": reads.session_usage_series(conn, row["id"])}


def usage(ctx: Context, request: Request) -> Row:
    """``GET /api/usage``: the usage report (the ``usage --json`` document)."""
    query = request.query_params
    params.check_known(query, ("group", "since", "until", "agent", "project", "branch",
                               "breakdown"))  # fmt: skip
    group = params.choices(query, "group", USAGE_GROUPS) or ["daily"]
    now, tz = _now()
    # Parsed here, so a bad value's message names the parameter; the report takes timestamps.
    since = params.since(query, "since", now, tz)
    until = params.until(query, "until", now, tz)
    agents = params.choices(query, "agent", (*agent_names(), "unknown"))
    report = UsageQuery(
        group=group[0], since=since, until=until,
        agent=agents[0] if agents else None, project=params.text(query, "project"),
        branch=params.text(query, "branch"), breakdown=query.get("breakdown") in ("1", "true"),
    )  # fmt: skip
    try:
        return build_usage(ctx.db_path, report)
    except ValueError as exc:
        raise params.ParamError(str(exc)) from None


def routes(ctx: Context) -> list[Route]:
    """The API's routes bound to ``ctx``."""
    table: list[tuple[str, Callable[[Context, Request], Any]]] = [
        ("/api/sessions", list_sessions),
        ("/api/sessions/{id}", get_session),
        ("/api/sessions/{id}/events", session_events),
        ("/api/sessions/{id}/file-activity", file_activity),
        ("/api/sessions/{id}/file-tree", file_tree),
        ("/api/sessions/{id}/command-stats", command_stats),
        ("/api/sessions/{id}/usage", session_usage),
        ("/api/usage", usage),
    ]
    return [Route(path, _endpoint(ctx, handler), methods=["GET"]) for path, handler in table]
