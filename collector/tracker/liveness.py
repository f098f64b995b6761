"""Noticing that watched processes exit: pidfd where the kernel has it, a bounded poll otherwise.

A pidfd (``os.pidfd_open``, Linux ≥ 5.3, pidfd_open(2)) becomes readable when its process
exits, so ``wait()`` returns the moment an agent dies instead of at the next poll. It needs no
permission over the process and, once open, keeps naming that process even if the pid is
reused, so an exit is never missed. Where pidfd is missing (macOS, old kernels, a process that
is already gone when we open it) the identities are re-checked on every ``wait()`` that reaches
its timeout, which the tracker bounds to about a second.

The tracker thread is the only user; ``wake()`` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import os
import select
import time

from collector.tracker.process import ProcessIdentity, is_alive

__all__ = ["ExitWatcher"]


class ExitWatcher:
    """Watches identities under integer keys; ``wait()`` returns the keys that exited."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._pidfds: dict[int, int] = {}  # fd → key
        self._polled: dict[int, ProcessIdentity] = {}  # keys without a pidfd
        self._keys: dict[int, tuple[ProcessIdentity, int | None]] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poll.register(self._wake_r, select.POLLIN)
        self._closed = False

    def watch(self, key: int, identity: ProcessIdentity) -> None:
        """Watch ``identity`` under ``key`` (replacing what ``key`` watched)."""
        self.unwatch(key)
        fd = self._open_pidfd(identity)
        self._keys[key] = (identity, fd)
        if fd is None:
            self._polled[key] = identity
        else:
            self._pidfds[fd] = key
            self._poll.register(fd, select.POLLIN)

    def unwatch(self, key: int) -> None:
        """Stop watching ``key``; unknown keys are ignored."""
        entry = self._keys.pop(key, None)
        if entry is None:
            return
        self._polled.pop(key, None)
        fd = entry[1]
        if fd is not None:
            self._pidfds.pop(fd, None)
            self._poll.unregister(fd)
            os.close(fd)

    def watching(self, key: int) -> ProcessIdentity | None:
        """The identity watched under ``key``, if any."""
        entry = self._keys.get(key)
        return entry[0] if entry else None

    def wake(self) -> None:
        """Make a blocked ``wait()`` return now."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def wait(self, timeout: float) -> list[int]:
        """Block up to ``timeout`` seconds; the keys whose process exited (now unwatched)."""
        started = time.monotonic()
        ready = self._poll.poll(max(0, int(timeout * 1000)))
        exited: list[int] = []
        for fd, _mask in ready:
            if fd == self._wake_r:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
                continue
            key = self._pidfds.get(fd)
            if key is not None:
                exited.append(key)
        if self._polled and (not ready or time.monotonic() - started >= timeout * 0.9):
            exited.extend(k for k, ident in list(self._polled.items()) if not is_alive(ident))
        for key in exited:
            self.unwatch(key)
        return exited

    def close(self) -> None:
        """Release every descriptor; idempotent."""
        if self._closed:
            return
        self._closed = True
        for key in list(self._keys):
            self.unwatch(key)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @staticmethod
    def _open_pidfd(identity: ProcessIdentity) -> int | None:
        opener = getattr(os, "pidfd_open", None)
        if opener is None:
            return None
        try:
            fd = int(opener(identity.pid))
        except OSError:
            return None
        # The pid may have been reused between reading the identity and opening the fd:
        # only a pidfd opened while the identity still matches names the right process.
        if not is_alive(identity):
            os.close(fd)
            return None
        return fd
