"""Retrying what failed only for now: a locked, busy, full or failing database.

The writer never gives up on a batch because the database is busy for a while: it waits,
doubling the wait from 0.05 s up to 2 s, and tries again, so no offset advances past events that
are not stored. Only stopping (``abort`` set) ends the waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from config.errors import StoreBusyError

__all__ = ["retry_busy"]

T = TypeVar("T")


def retry_busy(
    attempt: Callable[[], T],
    abort: threading.Event,
    on_busy: Callable[[StoreBusyError], None],
    first: float = 0.05,
    most: float = 2.0,
) -> T:
    """``attempt()`` until it does not raise ``StoreBusyError``; ``on_busy`` hears of each
    failure, and the waits double from ``first`` to ``most`` seconds. Re-raises the last
    failure when ``abort`` is set during a wait."""
    delay = first
    while True:
        try:
            return attempt()
        except StoreBusyError as exc:
            on_busy(exc)
            if abort.wait(delay):
                raise
            delay = min(delay * 2, most)
