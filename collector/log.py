"""structlog, configured once per process.

Console rendering on a TTY, JSON lines otherwise (journald, launchd log files, pipes). When
stdout is the systemd journal (``JOURNAL_STREAM`` matches stderr's device and inode) each JSON
line carries a ``<N>`` syslog priority prefix so ``journalctl -p`` filters work.

Privacy: transcript contents are never logged at info level; events carry paths, offsets and
counts. Anything that could hold transcript text is logged at debug only.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO, cast

import orjson
import structlog

__all__ = ["configure_logging", "get_logger"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "warn": 4, "error": 3, "critical": 2,
             "exception": 3}  # fmt: skip


def get_logger(**context: Any) -> Any:
    """A structlog logger bound to ``context``."""
    return structlog.get_logger(**context)


def _stream_is_journal(stream: TextIO) -> bool:
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        st = os.fstat(stream.fileno())
        dev, _, inode = value.partition(":")
        return (st.st_dev, st.st_ino) == (int(dev), int(inode))
    except (OSError, ValueError):
        return False


def _json_renderer(journal: bool) -> Any:
    def render(_logger: Any, method: str, event_dict: dict[str, Any]) -> str:
        text = orjson.dumps(event_dict, default=str).decode()
        if journal:
            return f"<{_PRIORITY.get(method, 6)}>{text}"
        return text

    return render


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written: while the backfill bar is shown,
    ``rich`` swaps in a proxy that prints each line above the bar (``collector.progress``)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog for this process; later calls replace the configuration."""
    out: Any = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    else:
        processors.append(_json_renderer(_stream_is_journal(out)))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(
            cast(TextIO, _CurrentStderr()) if stream is None else out
        ),
        cache_logger_on_first_use=False,
    )
