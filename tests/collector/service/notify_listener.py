"""A datagram socket standing in for systemd's notify socket, held by the test."""

from __future__ import annotations

import socket
import threading
import time

__all__ = ["Message", "NotifyListener"]

Message = tuple[float, dict[str, str]]  # (monotonic time received, KEY=VALUE fields)


class NotifyListener:
    """Binds ``address`` (a path, or ``@name`` in the abstract namespace) and records every
    datagram the daemon sends, with the time it arrived."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self._sock.settimeout(0.05)
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            fields = dict(line.partition("=")[::2] for line in data.decode().split("\n") if line)
            with self._lock:
                self._messages.append((time.monotonic(), fields))

    def close(self) -> None:
        """Stop the thread and close the socket; idempotent."""
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def times(self, key: str, after: float = 0.0, before: float = float("inf")) -> list[float]:
        """When messages carrying ``key`` arrived, within ``(after, before)``."""
        return [at for at, fields in self.messages() if key in fields and after < at < before]

    def wait_for(
        self, key: str, value: str = "1", after: float = 0.0, timeout: float = 10
    ) -> Message:
        """The first message after ``after`` whose ``key`` is ``value``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, fields in self.messages():
                if at > after and fields.get(key) == value:
                    return at, fields
            time.sleep(0.02)
        raise AssertionError(f"no {key}={value} within {timeout}s; got {self.messages()}")
