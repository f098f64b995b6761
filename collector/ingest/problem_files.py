"""Transcripts that cannot be read (permissions, a link, a FIFO), and why: for ``status``.

Each new reason for a path is counted and logged once; a path that reads again is forgotten.
The list shown is bounded, the count is not.
"""

from __future__ import annotations

from collector.counters import Counters
from collector.log import get_logger

__all__ = ["ProblemFiles"]

_log = get_logger(component="reader")
_PROBLEMS_SHOWN = 100


class ProblemFiles:
    """Unreadable transcripts by path → the reason of their last failed attempt."""

    __slots__ = ("_counters", "_problems")

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._problems: dict[str, str] = {}

    def note(self, path: str, error: str | None) -> None:
        """The outcome of reading ``path``: ``error`` is None when it could be read."""
        if error is None:
            self._problems.pop(path, None)
            return
        if self._problems.get(path) == error:
            return
        self._counters.add("file_errors")
        _log.warning("file_unreadable", path=path, error=error)
        if path in self._problems or len(self._problems) < _PROBLEMS_SHOWN:
            self._problems[path] = error

    def copy(self) -> dict[str, str]:
        """A copy of the current list."""
        return dict(self._problems)
