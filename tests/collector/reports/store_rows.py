"""A real store filled with sessions and usage rows a test chooses (raw SQL: tests only)."""

from __future__ import annotations

import itertools
from contextlib import closing
from pathlib import Path
from typing import Any

from store.connection import open_database

__all__ = ["StoreRows"]

_COUNTER = itertools.count()


class StoreRows:
    """Builds a database at ``path`` through the real schema and migrations."""

    def __init__(self, path: Path) -> None:
        self.path = path
        open_database(path).close()

    def session(self, key: str, agent: str = "claude-code", **facts: Any) -> int:
        values = {"session_key": key, "agent": agent, "agent_session_id": key,
                  "created_at": "2026-01-01T00:00:00.000Z",
                  "updated_at": "2026-01-01T00:00:00.000Z", **facts}  # fmt: skip
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with closing(open_database(self.path)) as conn:
            cursor = conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})",
                                  list(values.values()))  # fmt: skip
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def usage(self, session_id: int, timestamp: str, model: str | None, **tokens: int) -> None:
        """One usage event; tokens: input, output, cache_write, cache_write_1h, cache_read,
        reasoning."""
        names = {"input": "input_tokens", "output": "output_tokens",
                 "cache_write": "cache_creation_tokens",
                 "cache_write_1h": "cache_creation_1h_tokens",
                 "cache_read": "cache_read_tokens", "reasoning": "reasoning_tokens"}  # fmt: skip
        values: dict[str, Any] = {
            "session_id": session_id, "agent_event_id": f"usage:{next(_COUNTER)}",
            "timestamp": timestamp, "event_type": "usage", "model": model,
            "created_at": timestamp, **{names[k]: v for k, v in tokens.items()},
        }  # fmt: skip
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with closing(open_database(self.path)) as conn:
            conn.execute(f"INSERT INTO events ({columns}) VALUES ({marks})", list(values.values()))
