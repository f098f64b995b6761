"""Which caught-up files keep their descriptor open: the ones being written to.

A live file that got lines keeps its descriptor for ``HOT_SECONDS`` past EOF (at most
``HOT_MAX`` files): lines appended just before a rename or unlink are then read through it
rather than lost with the path. Quiet files close theirs, so idle transcripts hold
none.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping

from collector.ingest.tracked import TrackedFile

__all__ = ["HOT_MAX", "HOT_SECONDS", "gone_quiet", "keep_hot"]

HOT_SECONDS = 30.0
HOT_MAX = 32


def keep_hot(tracked: TrackedFile, files: Iterable[TrackedFile]) -> bool:
    """Keep this caught-up file's descriptor open (it is being written to: modified in the
    last ``HOT_SECONDS``; an old transcript just backfilled is not)? ``files``: all open."""
    try:
        mtime = os.stat(tracked.source.path, follow_symlinks=False).st_mtime
    except OSError:
        return True  # gone since the read: the next poll drains the descriptor and retires it
    tracked.active_at = time.monotonic() - max(0.0, time.time() - mtime)
    if time.monotonic() - tracked.active_at > HOT_SECONDS:
        return False
    held = sum(1 for t in files if t.tail and t.tail.holds_descriptor)
    return held <= HOT_MAX


def gone_quiet(files: Mapping[str, TrackedFile], now: float) -> list[tuple[str, TrackedFile]]:
    """The files holding a descriptor that have not been written to for ``HOT_SECONDS``."""
    return [
        (path, tracked)
        for path, tracked in files.items()
        if tracked.tail is not None
        and tracked.tail.holds_descriptor
        and now - tracked.active_at >= HOT_SECONDS
    ]
