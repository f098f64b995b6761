"""Isolating the records the store rejects, so one bad record never stalls its file.

When a batch fails for a reason other than a busy database, each record is tried alone; one the
store refuses is replaced by a ``ParseProblem`` (file, offset, reason), so the file's offset can
still advance past it and nothing vanishes unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable

from collector.counters import Counters
from store.records import Chunk, ParseProblem, Record

__all__ = ["isolate"]


def isolate(chunk: Chunk, accepts: Callable[[Record], bool], counters: Counters) -> Chunk:
    """``chunk`` with every record ``accepts`` refuses replaced by a ``ParseProblem``."""
    kept: list[Record] = []
    for record in chunk.records:
        if accepts(record):
            kept.append(record)
            continue
        path = chunk.file.path if chunk.file else "?"
        offset = int(getattr(record, "source_offset", None) or 0)
        kept.append(ParseProblem(path, offset, f"store rejected {type(record).__name__}", ""))
        counters.add("records_rejected")
    return Chunk(kept, chunk.file, chunk.nbytes, chunk.on_commit)
