"""sd_notify in the standard library: readiness, status and the watchdog for systemd.

Protocol (sd_notify(3)): one datagram of ``KEY=VALUE`` lines to the ``AF_UNIX`` socket named by
``$NOTIFY_SOCKET``; a leading ``@`` means the Linux abstract namespace. ``WatchdogSec=`` passes
``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``): ping every half of it, and only from the process it
names. Sending never raises: a supervisor that went away must not take the daemon with it.
On macOS (launchd) ``NOTIFY_SOCKET`` is never set and every call is a no-op.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from collector.log import get_logger

__all__ = ["Notifier"]

_log = get_logger(component="notify")


class Notifier:
    """Talks to the service manager named in the environment, if any."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env)
        self._last_ping = 0.0
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        """Is there a service manager to talk to."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram; False when unsupervised or the socket refused it."""
        if self.address is None:
            return False
        import socket  # here: unsupervised (--once, a terminal, launchd) never loads it

        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            _log.debug("notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str) -> None:
        """READY=1 with a first status line."""
        self.send("READY=1", f"STATUS={status}")
        self._last_status = status

    def status(self, text: str) -> None:
        """STATUS= when it changed."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def stopping(self) -> None:
        """STOPPING=1: shutdown has begun."""
        self.send("STOPPING=1", "STATUS=stopping")

    def reloading(self) -> None:
        """RELOADING=1 (v253+; ignored by older managers), to be followed by ``ready``."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog(self, healthy: bool) -> bool:
        """WATCHDOG=1 at half the interval, and only while ``healthy``; True when sent."""
        if self.watchdog_interval is None or not healthy:
            return False
        now = time.monotonic()
        if now - self._last_ping < self.watchdog_interval / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")


def _address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # unset, or vsock: (VMs), which we do not speak


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000
