"""The one exception tree of agent-viz-monitor.

    MonitorError                      base: catch this to catch everything we raise on purpose
    ├── ConfigError(path, line, key, reason)   a bad config file or environment override
    ├── StoreError(path, reason)               the database cannot be used as asked
    │   ├── StoreOpenError                     not SQLite, read-only, locked, permissions
    │   ├── StoreBusyError                     locked, busy, full or failing: retry, advance nothing
    │   ├── StoreRejectedError                 the store refuses this data: do not retry it
    │   └── SchemaVersionError                 database written by a newer agent-viz-monitor
    ├── InstanceLockedError(path, pid)         another daemon already owns the database
    ├── ServiceError(reason)                   installing or removing the systemd/launchd service
    ├── SinkError                              a sink cannot be used as configured
    │   └── CentralSchemaError                 central schema newer than us, or server too old
    ├── RegistrationError(pid, reason)         ``register`` cannot name that process
    └── UsageError(option, reason)             a command-line value we cannot use (exit 2)

Exceptions carry what a person needs to act; ``str()`` of each is the one line the CLI prints.
Unknown query or update keys raise the built-in ``ValueError`` (a programming error, not an
operational one).
"""

from __future__ import annotations

__all__ = [
    "CentralSchemaError",
    "ConfigError",
    "InstanceLockedError",
    "MonitorError",
    "RegistrationError",
    "SchemaVersionError",
    "ServiceError",
    "SinkError",
    "StoreBusyError",
    "StoreError",
    "StoreOpenError",
    "StoreRejectedError",
    "UsageError",
]


class MonitorError(Exception):
    """Base of every error agent-viz-monitor raises on purpose."""


class ConfigError(MonitorError):
    """A config file or override is invalid; names ``file:line: dotted.key: reason``."""

    def __init__(self, path: str, line: int | None, key: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class StoreError(MonitorError):
    """The database at ``path`` cannot be used as asked."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class StoreOpenError(StoreError):
    """The database file cannot be opened: not SQLite, read-only, locked or unreachable."""


class StoreBusyError(StoreError):
    """An operational failure (locked, busy, disk full, read-only, I/O): nothing was written,
    and the same work may succeed later. ``reason`` is SQLite's own message."""


class StoreRejectedError(StoreError):
    """The store refuses what it was given (a constraint, a malformed value): retrying the same
    data cannot succeed."""


class SchemaVersionError(StoreError):
    """The database was written by a newer version; we refuse to touch it."""


class InstanceLockedError(MonitorError):
    """Another daemon holds the instance lock of this database."""

    def __init__(self, path: str, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another agent-viz-monitor instance{who} already uses {path}")


class ServiceError(MonitorError):
    """The service manager is missing or refused a step; says which and what to do."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RegistrationError(MonitorError):
    """``register`` was given a pid that names no running process (or cannot be read)."""

    def __init__(self, pid: int, reason: str) -> None:
        self.pid = pid
        self.reason = reason
        super().__init__(f"pid {pid}: {reason}")


class UsageError(MonitorError):
    """A command-line value that cannot be used (an unknown filter value, an ambiguous
    session prefix, an unreadable time); names the option and what it accepts."""

    def __init__(self, option: str, reason: str) -> None:
        self.option = option
        self.reason = reason
        super().__init__(f"{option}: {reason}")


class SinkError(MonitorError):
    """A sink (the team PostgreSQL) cannot be used as configured."""


class CentralSchemaError(SinkError):
    """The central schema is newer than this code, or the server too old: shipping stops."""
