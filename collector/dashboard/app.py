"""The dashboard's ASGI app: API routes, the event stream, the pages and their assets.

``build_app`` wires the parts; the lifespan starts the commit poller and warms the running
totals in the background (the first sum over a large store takes a second or two), and closes
every read connection at shutdown.
"""

from __future__ import annotations

import contextlib
import html
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from collector.dashboard.api import Context, JSONResponse, routes
from collector.dashboard.guard import Guard, allowed_hosts
from collector.dashboard.stream import CommitSignal, stream_endpoint
from collector.dashboard.totals import SessionTotals
from collector.reports.usage import session_costs
from config.agents import names as agent_names
from config.errors import StoreError
from store.reads import dashboard as reads

__all__ = ["STATIC", "build_app"]

STATIC = pathlib.Path(__file__).resolve().parent / "static"
_PAGES = {"now": "Now", "session": "Session", "usage": "Usage"}


def build_app(
    db_path: pathlib.Path, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None
) -> Starlette:
    """The dashboard for the store at ``db_path``, answering as ``host:port``."""
    ctx = Context(
        db_path=db_path,
        reads=reads.ReadConnections(db_path),
        totals=SessionTotals(lambda ids: session_costs(db_path, ids)),
    )
    signal = CommitSignal(db_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(signal.run)
            tasks.start_soon(_warm, ctx)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        signal.close()
        ctx.reads.close()

    page_routes = [
        Route("/", _page("now"), methods=["GET"]),
        Route("/sessions/{id}", _page("session"), methods=["GET"]),
        Route("/usage", _page("usage"), methods=["GET"]),
        Route("/healthz", _health(ctx), methods=["GET"]),
        Route("/favicon.ico", _no_icon, methods=["GET"]),
        Route("/api/events/stream", stream_endpoint(ctx, signal), methods=["GET"]),
    ]
    return Starlette(
        routes=[*page_routes, *routes(ctx), Mount("/static", StaticFiles(directory=STATIC))],
        middleware=[Middleware(Guard, hosts=allowed_hosts(host, port), token=token)],
        lifespan=lifespan,
    )


async def _warm(ctx: Context) -> None:
    def work() -> None:
        with contextlib.suppress(StoreError):
            ctx.refresh_totals(ctx.conn())

    await anyio.to_thread.run_sync(work)


def _page(name: str) -> Any:
    """One of the three pages: the shared shell naming its title and script."""
    shell = (STATIC / "page.html").read_text(encoding="utf-8")
    agents = html.escape(",".join(agent_names()))  # the agents table (config.agents)
    body = (shell.replace("__TITLE__", _PAGES[name]).replace("__PAGE__", name)
            .replace("__AGENTS__", agents).encode())  # fmt: skip

    async def page(request: Request) -> Response:
        return Response(body, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    return page


async def _no_icon(request: Request) -> Response:
    return Response(status_code=204)


def _health(ctx: Context) -> Any:
    def health(request: Request) -> Response:
        try:
            conn = ctx.conn()
            return JSONResponse({"ok": True, "database": str(ctx.db_path),
                                 "events": reads.max_event_id(conn)})  # fmt: skip
        except StoreError as exc:
            return JSONResponse({"ok": False, "database": str(ctx.db_path), "error": str(exc)},
                                status_code=503)  # fmt: skip

    return health
