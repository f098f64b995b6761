"""One daemon per database: an ``flock`` on ``<database>.lock`` holding the owner's pid.

``flock`` is released by the kernel when the process dies, however it dies (SIGKILL included),
so a stale lock file never blocks a restart; the pid inside is informational.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from config.errors import InstanceLockedError, StoreOpenError
from config.paths import lock_path
from store.connection import make_private_folder

__all__ = ["InstanceLock", "running_pid"]


class InstanceLock:
    """Held while this process is the database's daemon; ``release()`` is idempotent."""

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``InstanceLockedError`` naming the holder."""
        database = str(self.path.with_suffix(""))
        try:
            make_private_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # a read-only folder: the same words as a read-only database
            raise StoreOpenError(
                database,
                f"database folder is read-only or unreachable ({exc.strerror}: "
                f"{self.path}); check the folder's permissions",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InstanceLockedError(database, running_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content is stale but harmless)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def running_pid(path: Path) -> int | None:
    """The pid of the daemon holding the lock at ``path``, or None when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
