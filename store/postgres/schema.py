"""The central schema's versions: created by the first shipper that connects, migrated forward
by the first one with newer code, refused by older code.

Each step runs in one transaction under an advisory lock, so machines connecting at once do not
race (PostgreSQL's DDL is transactional: a failed step leaves the previous version whole). A
schema newer than this code raises ``CentralSchemaError``: an older shipper must not write rows
whose meaning it does not know. ``agent_viz_schema`` records the versions.
"""

from __future__ import annotations

from importlib import resources

import psycopg

from config.errors import CentralSchemaError

__all__ = ["CENTRAL_VERSION", "MIN_SERVER_VERSION", "central_version", "ensure_schema"]

MIN_SERVER_VERSION = 130000  # PostgreSQL 13 (server_version_num)
_LOCK_KEY = 0x61766D01  # pg_advisory_xact_lock key: "avm" + 1
_STEPS: tuple[tuple[int, str], ...] = ((1, "v1.sql"),)
CENTRAL_VERSION = _STEPS[-1][0]


def _script(name: str) -> str:
    return resources.files("store.postgres").joinpath(name).read_text(encoding="utf-8")


def central_version(conn: psycopg.Connection[tuple[object, ...]]) -> int | None:
    """The central schema's version; None when agent-viz-monitor never created it there."""
    row = conn.execute("SELECT to_regclass('agent_viz_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("SELECT max(version) FROM agent_viz_schema").fetchone()
    return int(str(found[0])) if found and found[0] is not None else None


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]], machine: str) -> int:
    """Create or migrate the central schema to ``CENTRAL_VERSION``; return the version found
    (0: created now). Refuses a newer schema and a server older than PostgreSQL 13."""
    server = conn.info.server_version
    if server < MIN_SERVER_VERSION:
        raise CentralSchemaError(
            f"PostgreSQL {_version_text(server)} is too old: the team sink needs 13 or newer"
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        found = central_version(conn) or 0
        if found > CENTRAL_VERSION:
            raise CentralSchemaError(
                f"central schema version {found} is newer than this agent-viz-monitor supports "
                f"({CENTRAL_VERSION}); upgrade agent-viz-monitor on this machine"
            )
        if found == 0:
            conn.execute(
                "CREATE TABLE agent_viz_schema (version integer NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now(), applied_by text)"
            )
        for version, name in _STEPS:
            if found < version:
                conn.execute(_script(name).encode())
                conn.execute(
                    "INSERT INTO agent_viz_schema (version, applied_by) VALUES (%s, %s)",
                    (version, machine),
                )
    return found


def _version_text(server: int) -> str:
    return f"{server // 10000}.{server % 10000}" if server >= 100000 else str(server)
