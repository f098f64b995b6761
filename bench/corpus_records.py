"""A Claude Code corpus as parsed records, and the writer's transaction over them, for the
benchmarks that time the store's hot path in-process (``bench_sink.py``'s writer cost and
``bench_writer_feed.py``).

Not a benchmark itself. The product is imported when called, not at import, so a child
interpreter whose ``PYTHONPATH`` names another tree (a branch point to compare) times that
tree's parsers and store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["apply_in_batches", "parsed_records"]

_BATCH = 100  # records per transaction, as the writer makes them under load
_NOW = "2026-01-02T10:00:00.000Z"


def parsed_records(projects: Path) -> list[Any]:
    """Every record the Claude Code parser makes of the ``*.jsonl`` files under ``projects``."""
    from collector.parsers import make_parser
    from collector.parsers.sources import classify

    records: list[Any] = []
    for path in sorted(projects.rglob("*.jsonl")):
        source = classify("claude-code", str(projects), str(path))
        if source is None:
            continue
        parser = make_parser(source)
        offset = 0
        for line in path.read_bytes().split(b"\n")[:-1]:
            records.extend(parser.parse_line(line, offset))
            offset += len(line) + 1
    return records


def apply_in_batches(store: Any, records: list[Any]) -> float:
    """Seconds of process CPU to store ``records`` in ``store`` (an ``EventStore``), 100 to a
    transaction: ``apply_records`` and COMMIT, the writer's hot path without its thread."""
    from store.batch import SessionKeys, apply_records

    conn, keys = store.connection, SessionKeys()
    started = time.process_time()
    for at in range(0, len(records), _BATCH):
        conn.execute("BEGIN IMMEDIATE")
        apply_records(conn, records[at : at + _BATCH], _NOW, keys)
        conn.execute("COMMIT")
    return time.process_time() - started
