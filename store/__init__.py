"""The SQLite event store: schema, migrations, the ``EventStore`` API and batch writing."""

from store.batch import BatchResult, apply_records
from store.event_store import EventStore
from store.migrate import CURRENT_VERSION
from store.timestamps import normalize_timestamp

__all__ = ["CURRENT_VERSION", "BatchResult", "EventStore", "apply_records", "normalize_timestamp"]
