"""Process-wide counters behind ``status`` and the systemd STATUS line.

Updated from the reader and writer threads under one lock; read as a snapshot. Commit latency
keeps a small ring of recent values for p50/p99 without unbounded memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["Counters"]


class Counters:
    """Named integer counters plus commit latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}
        self._latency: deque[float] = deque(maxlen=1024)
        self.started = time.time()
        self.last_commit: float | None = None

    def add(self, name: str, amount: int = 1) -> None:
        """Increase ``name`` by ``amount``."""
        with self._lock:
            self._values[name] = self._values.get(name, 0) + amount

    def record_commit(self, ms: float, records: int, events: int, nbytes: int) -> None:
        """Account one committed batch."""
        with self._lock:
            pairs = (
                ("commits", 1),
                ("records_committed", records),
                ("events_inserted", events),
                ("bytes_committed", nbytes),
            )
            for name, amount in pairs:
                self._values[name] = self._values.get(name, 0) + amount
            self._latency.append(ms)
            self.last_commit = time.time()

    def get(self, name: str) -> int:
        """The value of ``name`` (0 when never counted)."""
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy: counters, commit latency p50/p99/max, last commit time."""
        with self._lock:
            values = dict(sorted(self._values.items()))
            latency = sorted(self._latency)
            last = self.last_commit
        out: dict[str, Any] = {"counters": values, "started": self.started, "last_commit": last}
        if latency:
            out["commit_ms"] = {
                "p50": round(latency[len(latency) // 2], 2),
                "p99": round(latency[min(len(latency) - 1, int(len(latency) * 0.99))], 2),
                "max": round(latency[-1], 2),
            }
        return out
