"""The team's PostgreSQL: the central schema (created and migrated by the shipper) and the
batch upsert. Every statement the PostgreSQL sink runs lives in this package."""

from store.postgres.schema import (
    CENTRAL_VERSION,
    MIN_SERVER_VERSION,
    central_version,
    ensure_schema,
)
from store.postgres.upsert import prepare_connection, ship_batch, shipped_cursor

__all__ = [
    "CENTRAL_VERSION",
    "MIN_SERVER_VERSION",
    "central_version",
    "ensure_schema",
    "prepare_connection",
    "ship_batch",
    "shipped_cursor",
]
