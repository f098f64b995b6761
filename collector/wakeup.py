"""A wake-up a main loop sleeps on, safe to set from a signal handler.

``threading.Event`` is not: its ``set()`` takes the event's lock, and a Python signal handler
runs on the main thread between two bytecodes — possibly while that same thread holds the
lock inside ``wait()`` or ``clear()``. The lock is not re-entrant, so a SIGTERM at the wrong
moment left the process waiting on itself for good (seen as ``usage blocks --live`` not exiting
on Ctrl-C under load; the daemon's stop and reload handlers had the same shape).

A self-pipe takes no Python lock: ``set()`` writes a byte (from any thread or a handler; a full
pipe already means "wake up"), ``wait()`` sleeps in ``select`` until a byte or the timeout, and
empties the pipe, so a ``set()`` that comes after ``wait()`` returned is never lost.
"""

from __future__ import annotations

import contextlib
import os
import select

__all__ = ["Wakeup"]


class Wakeup:
    """Set from anywhere, including signal handlers; waited on by one loop."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._closed = False

    def set(self) -> None:
        """Wake the waiter now, or make its next ``wait`` return at once."""
        if self._closed:  # its descriptors' numbers may belong to another file by now
            return
        # Full (BlockingIOError): a wake-up is pending anyway.
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None) -> bool:
        """Sleep until ``set()`` or ``timeout`` seconds; True when woken. Clears the wake-up."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return False
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        """Release the pipe; idempotent. Call it once nothing can ``set`` any more."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._read, self._write):
            os.close(fd)
