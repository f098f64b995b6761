"""``doctor``'s checks of the team sink: can we connect (and if not, why, in words), is the server
new enough, which central schema version is there, and how far behind is this machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from collector.sinks.connection import open_connection
from collector.sinks.diagnose import diagnose
from collector.sinks.machine import machine_identity
from config.errors import SinkError
from config.sinks import PostgresSinkConfig
from store.postgres import CENTRAL_VERSION, MIN_SERVER_VERSION, central_version

__all__ = ["SinkCheck", "sink_checks"]

SinkCheck = tuple[str, str, str, str]  # name, level (ok | warn | fail), message, fix


def sink_checks(config: PostgresSinkConfig, sinks_status: dict[str, Any]) -> Iterator[SinkCheck]:
    """The checks of an enabled PostgreSQL sink (nothing when it is disabled)."""
    if not config.enabled:
        return
    machine, label = machine_identity(config.machine)
    try:
        conn = open_connection(config)
    except SinkError as exc:
        yield ("sink postgres", "fail", str(exc), "fix sinks.postgres.dsn_file")
        return
    except psycopg.Error as exc:
        why = diagnose(getattr(exc, "sqlstate", None), str(exc))
        yield ("sink postgres", "fail", f"cannot connect: {why.cause}", why.fix)
        return
    with conn:
        yield _server(conn, machine, label)
        yield _schema(conn)
    yield _lag(sinks_status.get("postgres") or {})


def _server(conn: psycopg.Connection[Any], machine: str, label: str) -> SinkCheck:
    version = conn.info.server_version
    text = f"PostgreSQL {version // 10000}.{version % 10000}"
    where = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    if version < MIN_SERVER_VERSION:
        return ("sink postgres", "fail", f"{where}: {text} is too old (13 or newer needed)",
                "upgrade the server")  # fmt: skip
    return ("sink postgres", "ok", f"connected to {where}, {text}, as machine {machine} "
            f"({label})", "")  # fmt: skip


def _schema(conn: psycopg.Connection[Any]) -> SinkCheck:
    try:
        found = central_version(conn)
    except psycopg.Error as exc:
        return ("sink schema", "fail", f"cannot read the schema version: {exc}", "")
    if found is None:
        return ("sink schema", "ok", "no central schema yet: the shipper creates it", "")
    if found > CENTRAL_VERSION:
        return ("sink schema", "fail", f"central schema version {found} is newer than this "
                f"agent-viz-monitor supports ({CENTRAL_VERSION})",
                "upgrade agent-viz-monitor on this machine")  # fmt: skip
    return ("sink schema", "ok", f"central schema version {found}", "")


def _lag(status: dict[str, Any]) -> SinkCheck:
    rows, seconds = status.get("lag_rows"), status.get("lag_seconds")
    state, error = status.get("state", "stopped"), status.get("last_error")
    text = f"{state}, lag {rows if rows is not None else '?'} rows"
    if seconds:
        text += f" ({seconds:.0f}s)"
    if state in ("retrying", "refused") and error:
        return ("sink lag", "warn", f"{text}; last error: {error}", status.get("fix") or "")
    if isinstance(seconds, int | float) and seconds > 300:
        return ("sink lag", "warn", text, "see `agent-viz-monitor status`")
    return ("sink lag", "ok", text, "")
