"""Opening the team's PostgreSQL: the DSN from the config, a file, or libpq's PG* variables.

The DSN is never logged (it may hold a password); errors carry libpq's message, which names the
host and user but not the password. TLS and every other libpq option pass through the DSN
untouched; we only add a connect timeout, an application name and TCP keepalives (so a
half-open connection after a network cut fails in seconds instead of hanging a batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from config.errors import SinkError
from config.sinks import PostgresSinkConfig

__all__ = ["open_connection", "resolve_dsn"]


def resolve_dsn(config: PostgresSinkConfig) -> str:
    """The DSN to use: ``dsn``, the contents of ``dsn_file``, or empty (PG* variables)."""
    if config.dsn:
        return config.dsn
    if config.dsn_file:
        path = Path(config.dsn_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SinkError(
                f"sinks.postgres.dsn_file {path}: cannot read: {exc.strerror}"
            ) from None
    return ""


def open_connection(config: PostgresSinkConfig) -> psycopg.Connection[Any]:
    """An autocommit connection (batches open their own transactions)."""
    params: dict[str, Any] = {
        "connect_timeout": config.connect_timeout,
        "application_name": "agent-viz-monitor",
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
        "keepalives_count": 3,
    }  # fmt: skip
    return psycopg.connect(resolve_dsn(config), autocommit=True, **params)
