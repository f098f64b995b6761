"""Whole-file JSON transcripts (Gemini ≤ 0.38): re-parsed whole when their content changes.

Such a file is rewritten on every update, so there is no offset to resume from: its SHA-256
stands for its content, and a read whose hash matches the last committed one sends nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from collector.counters import Counters
from collector.digests import sha256
from collector.ingest.checkpoint import open_regular
from collector.ingest.tracked import TrackedFile
from collector.log import get_logger
from store.records import Chunk, FileUpdate

__all__ = ["read_document"]

_log = get_logger(component="reader")


def read_document(tracked: TrackedFile, max_bytes: int, counters: Counters) -> Chunk | None:
    """The chunk of a changed document, or None (unchanged, too large or unreadable)."""
    path = tracked.source.path
    try:
        with open(open_regular(path), "rb") as handle:
            st = os.fstat(handle.fileno())
            if st.st_size > max_bytes:
                counters.add("oversized_lines")
                return None
            data = handle.read()
    except OSError as exc:
        _log.warning("file_read_failed", path=path, error=f"{type(exc).__name__}: {exc}")
        return None
    digest = sha256(data).hexdigest()
    if digest == tracked.doc_hash:
        return None
    records = tracked.parser.parse_document(data)
    checkpoint = {
        "dev": st.st_dev,
        "inode": st.st_ino,
        "offset": len(data),
        "head_hash": digest,
        "head_len": len(data),
        "marker_hash": digest,
    }
    update = FileUpdate(path=path, agent=tracked.source.agent,
                        session_key=tracked.source.session_id, checkpoint=checkpoint,
                        parser_state=None, size=len(data), lines=1)  # fmt: skip
    counters.add("documents_read")
    return Chunk(records, update, len(data), on_commit=_setter(tracked, digest))


def _setter(tracked: TrackedFile, digest: str) -> Callable[[], None]:
    def done() -> None:
        tracked.doc_hash = digest

    return done
