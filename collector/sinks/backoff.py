"""Capped exponential back-off with jitter for the shipper's retries.

Pure: the caller passes the random draw, so tests can pin it. The first retry comes fast (a
restart of the server takes a second or two), later ones double up to ``cap`` so a long outage
costs a connection attempt every ``cap`` seconds at most.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Delays after consecutive failures: ``first``, doubled each time, never above ``cap``."""

    first: float = 0.5
    cap: float = 30.0
    failures: int = 0

    def next_delay(self, draw: float = 0.5) -> float:
        """The wait before the next attempt; ``draw`` in [0, 1) spreads it by ±20 %."""
        base = min(self.cap, self.first * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return min(self.cap, base * (0.8 + 0.4 * draw))

    def reset(self) -> None:
        """A success: the next failure starts from ``first`` again."""
        self.failures = 0
