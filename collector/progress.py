"""Backfill progress: a ``rich`` bar on a terminal, a log line every few seconds otherwise.

On a terminal the bar (files, bytes read of the total, events stored and events/s, time left)
stays on the last line while log lines scroll above it: ``rich``'s live display swaps
``sys.stderr`` for a proxy that prints each complete line above the bar, and the logger writes
to whatever ``sys.stderr`` is at the moment (``collector.log``), so the two never share a line.
The display is refreshed by the daemon's main loop (``tick``), not by a thread of its own, and
``close`` (idempotent) puts ``sys.stderr`` back. ``rich`` is loaded only when a bar is shown.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from collector.counters import Counters
from collector.log import get_logger

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["BackfillProgress"]

_log = get_logger(component="daemon")
_LOG_EVERY = 5.0  # seconds between progress log lines when stderr is not a terminal
_RATE_WINDOW = 2.0


class BackfillProgress:
    """Progress of reading ``total`` bytes in ``files`` files, from the daemon's counters."""

    def __init__(
        self, total: int, files: int, counters: Counters, stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.files = files
        self.counters = counters
        self.done = total == 0
        self._stream = stream or sys.stderr
        self._last_log = 0.0
        self._rate = _EventRate(counters)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if not self.done and self._stream.isatty():
            self._start_bar()

    def _start_bar(self) -> None:
        # rich is imported only for a terminal: a service's daemon never loads it (~6 MiB).
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        # soft_wrap: a long log line printed above the bar is wrapped by the terminal, not cut
        # into several lines by rich
        console = Console(file=self._stream, stderr=True, soft_wrap=True)
        self._bar = Progress(
            TextColumn(f"backfill {self.files} files"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[events]}"),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,  # the main loop refreshes: no display thread
            redirect_stderr=True,
            redirect_stdout=False,
            transient=False,
        )
        self._task = self._bar.add_task("backfill", total=self.total, events="")
        self._bar.start()

    def tick(self, idle: bool) -> None:
        """Show the current progress; ``idle`` (everything read and committed) ends it."""
        if self.done:
            return
        read = self.counters.get("bytes_committed")
        if idle:
            self._finish(read)
            return
        if self._bar is not None and self._task is not None:
            events = self.counters.get("events_inserted")
            text = f"{events:,} events · {self._rate.update():,.0f}/s"
            self._bar.update(self._task, completed=min(read, self.total), events=text)
            self._bar.refresh()
            return
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY:
            self._last_log = now
            _log.info("backfill_progress", bytes=read, total=self.total)

    def _finish(self, read: int) -> None:
        self.done = True
        if self._bar is not None and self._task is not None:
            text = f"{self.counters.get('events_inserted'):,} events"
            self._bar.update(self._task, completed=self.total, events=text)
            self._bar.refresh()
        self.close()
        _log.info("backfill_finished", bytes=read, events=self.counters.get("events_inserted"))

    def close(self) -> None:
        """Stop the display and give ``sys.stderr`` back; idempotent."""
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.stop()


class _EventRate:
    """Events per second over the last couple of seconds."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.at = time.monotonic()
        self.count = counters.get("events_inserted")
        self.rate = 0.0

    def update(self) -> float:
        now = time.monotonic()
        count = self.counters.get("events_inserted")
        if now - self.at >= _RATE_WINDOW or self.rate == 0.0:
            elapsed = max(now - self.at, 1e-3)
            self.rate = max(0.0, (count - self.count) / elapsed)
            self.at, self.count = now, count
        return self.rate
