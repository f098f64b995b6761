"""Giving memory back after a busy spell, so an idle daemon stays small whatever the backfill
before it used.

After a few quiet seconds: SQLite's page cache first, then the caches the owner names (the
writer's session ids: after a backfill of 20,000 transcripts, 20,000 ids of sessions now quiet,
~1 MB), then Python's garbage, then the C heap (glibc keeps freed arenas mapped until
``malloc_trim`` returns them).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any

__all__ = ["MemoryRelease"]

_SHRINK_AFTER = 5.0  # seconds of an empty queue before memory is given back


class MemoryRelease:
    """Counts quiet time from the end of the last busy spell; ``idle()`` releases once."""

    def __init__(
        self,
        shrink_cache: Callable[[], bool],
        after: float = _SHRINK_AFTER,
        forget: Callable[[], None] | None = None,
    ) -> None:
        self._shrink_cache = shrink_cache  # False when the cache could not be shrunk
        self._after = after
        self._forget = forget  # drops caches that refill on demand
        self._quiet_since: float | None = None

    def busy_until(self, now: float) -> None:
        """A busy spell ended at ``now``: memory is given back ``after`` seconds later."""
        self._quiet_since = now

    def idle(self, now: float) -> bool:
        """Release memory if quiet long enough since the last busy spell (once per spell)."""
        if self._quiet_since is None or now - self._quiet_since <= self._after:
            return False
        self._quiet_since = None
        if not self._shrink_cache():
            return False
        if self._forget is not None:
            self._forget()
        gc.collect()
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)
        return True


@functools.cache
def _libc() -> Any:
    """glibc, loaded at the first release (never in ``run --once``): ``ctypes`` and
    ``ctypes.util.find_library`` (which runs ``ldconfig -p``) cost 8 ms of every start-up."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's soname; malloc_trim is glibc's alone
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None  # not glibc (macOS, musl): nothing to trim
