"""Structured log events on the standard library: configured once per process.

Every module logs the same way: ``_log = get_logger(component="reader")`` at import, then
``_log.info("file_rewritten", path=..., reason=...)``: an event name and key/value fields. On a
TTY each event is a readable console line; otherwise (journald, launchd log files, pipes) a JSON
line with ``timestamp`` (ISO, UTC), ``level`` and ``event``. When stdout is the systemd journal
(``JOURNAL_STREAM`` matches stderr's device and inode) each JSON line carries a ``<N>`` syslog
priority prefix so ``journalctl -p`` filters work. ``exception`` adds the traceback.

Why not structlog, which this module configured until now: ``import structlog`` alone cost the
always-on daemon 13.5 MB of RSS beyond the standard library it uses anyway (153 modules: ``rich``
and ``pygments`` through ``structlog.dev``, ``asyncio`` and ``ssl`` with libssl/libcrypto through
its stdlib integration, ``decimal``, ``pickle``, ...), whatever the configuration; the daemon uses
none of it. What we need — a level filter, two renderers, a context per logger — is this module.
``capture_logs`` is the test seam (events as dicts, like structlog's).

Privacy: transcript contents are never logged at info level; events carry paths, offsets and
counts. Anything that could hold transcript text is logged at debug only.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import orjson

__all__ = ["Logger", "capture_logs", "configure_logging", "get_logger", "reset_logging"]

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "warn": 4, "error": 3, "critical": 2,
             "exception": 3}  # fmt: skip

Renderer = Callable[[Any, str, dict[str, Any]], str]


class _Config(msgspec.Struct, frozen=True):
    """What every logger does with an event: the minimum level, how a line looks, where it
    goes (None: whatever ``sys.stderr`` is at write time), or into a capture list (tests)."""

    level: int
    render: Renderer
    stream: TextIO | None = None
    captured: list[dict[str, Any]] | None = None


_lock = threading.Lock()  # one line at a time, whole, from every thread


class Logger:
    """A logger with bound context: each call logs one event with the context and its fields."""

    __slots__ = ("_context",)

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def bind(self, **fields: Any) -> Logger:
        """A logger whose events also carry ``fields``."""
        return Logger({**self._context, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        _emit("debug", self._context, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        _emit("info", self._context, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        _emit("warning", self._context, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        _emit("error", self._context, event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        _emit("critical", self._context, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error event with the exception being handled and its traceback."""
        fields.setdefault("exc_info", True)
        _emit("error", self._context, event, fields)


def get_logger(**context: Any) -> Logger:
    """A logger bound to ``context``; it follows later ``configure_logging`` calls."""
    return Logger(context)


def _emit(method: str, context: dict[str, Any], event: str, fields: dict[str, Any]) -> None:
    config = _current.config
    if config.captured is not None:
        config.captured.append({**context, **fields, "event": event, "log_level": method})
        return
    if _LEVELS[method] < config.level:
        return
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    entry = {**context, **fields, "event": event, "level": method, "timestamp": stamp}
    exc_info = entry.pop("exc_info", None)
    if exc_info:
        error = _format_exception(exc_info)
        if error:
            entry["exception"] = error
    line = config.render(None, method, entry) + "\n"
    with _lock:
        out = config.stream or sys.stderr
        out.write(line)
        out.flush()


def _format_exception(exc_info: Any) -> str:
    """The traceback of ``exc_info`` (True: the exception being handled), without the last
    newline; empty when there is none."""
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is None:
        return ""
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


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


def _json_renderer(journal: bool) -> Renderer:
    def render(_logger: Any, method: str, event_dict: dict[str, Any]) -> str:
        text = orjson.dumps(event_dict, default=str).decode()
        if journal:
            return f"<{_PRIORITY.get(method, 6)}>{text}"
        return text

    return render


_COLOURS = {"debug": "\x1b[34m", "info": "\x1b[32m", "warning": "\x1b[33m", "error": "\x1b[31m",
            "critical": "\x1b[31;1m", "key": "\x1b[36m", "time": "\x1b[2m",
            "event": "\x1b[1m"}  # fmt: skip


def _console_renderer(colours: bool) -> Renderer:
    """``<timestamp> [level    ] event   key=value ...`` (sorted keys), the traceback below."""

    def paint(kind: str, text: str) -> str:
        return f"{_COLOURS.get(kind, '')}{text}\x1b[0m" if colours else text

    def render(_logger: Any, method: str, event_dict: dict[str, Any]) -> str:
        fields = dict(event_dict)
        stamp, event = fields.pop("timestamp", ""), str(fields.pop("event", ""))
        level, error = fields.pop("level", method), fields.pop("exception", None)
        pairs = " ".join(f"{paint('key', k)}={_shown(v)}" for k, v in sorted(fields.items()))
        head = f"{paint('time', stamp)} [{paint(level, f'{level:<9}')}]"
        line = f"{head} {paint('event', f'{event:<30}')} {pairs}".rstrip()
        return f"{line}\n{error}" if error else line

    return render


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _stderr_config(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> _Config:
    out: Any = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    render = _console_renderer(out.isatty()) if console else _json_renderer(_stream_is_journal(out))
    return _Config(_LEVELS.get(level, _LEVELS["info"]), render, stream)


class _Current:
    """The one configuration every logger reads at each event (so loggers made at import
    follow ``configure_logging``)."""

    __slots__ = ("config",)

    def __init__(self, config: _Config) -> None:
        self.config = config


_current = _Current(_stderr_config())


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure logging for this process; later calls replace the configuration.

    Without ``stream`` lines go to whatever ``sys.stderr`` is when each is written: while the
    backfill bar is shown, ``rich`` swaps in a proxy that prints each line above the bar
    (``collector.progress``)."""
    _current.config = _stderr_config(level, fmt, stream)


def reset_logging() -> None:
    """Back to the configuration of a process that never called ``configure_logging``."""
    configure_logging()


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """Collect every event (any level) as a dict — context, fields, ``event``, ``log_level`` —
    instead of writing it, until the block ends (tests)."""
    previous = _current.config
    captured: list[dict[str, Any]] = []
    _current.config = _Config(previous.level, previous.render, previous.stream, captured)
    try:
        yield captured
    finally:
        _current.config = previous
