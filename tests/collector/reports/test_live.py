"""``usage blocks --live`` on a real pseudo-terminal: it redraws as the store grows and ends
with exit 0 on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.timestamps import format_timestamp
from tests.collector.reports.store_rows import StoreRows

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class Screen:
    """What the program wrote to its terminal, ANSI codes removed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def read(self, wait: float) -> bytes | None:
        """What the program wrote within ``wait`` seconds: None if nothing, b"" when it closed
        the terminal."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            chunk = b""
        self.text += _ANSI.sub(b"", chunk).decode(errors="replace")
        return chunk

    def wait_exit(self, proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
        """Keep reading (a full terminal would block the program's redraw) until it exits."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the program did not exit"
            if self.read(0.1) == b"":
                break
        return proc.wait(timeout=max(deadline - time.monotonic(), 1))

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not shown; screen so far:\n{self.text[-3000:]}"
            if self.read(left) == b"":
                assert needle in self.text, f"{needle!r} never shown:\n{self.text[-3000:]}"


def test_live_blocks_redraw_and_stop_on_ctrl_c(tmp_path: Path) -> None:
    store = StoreRows(tmp_path / "events.db")
    sid = store.session("s")
    start = datetime.now(UTC) - timedelta(minutes=30)
    store.usage(sid, format_timestamp(start), "gpt-5", input=111_111)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env.update(HOME=str(tmp_path), COLUMNS="150", LINES="50", TERM="xterm")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "usage", "blocks", "--live", "--refresh", "0.2",
         "--db", str(store.path)],
        stdin=child, stdout=child, stderr=child, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(child)
    screen = Screen(main)
    try:
        screen.wait_for("Active block:")
        assert "ACTIVE" in screen.text
        assert "111,111" in screen.text
        store.usage(sid, format_timestamp(start + timedelta(minutes=10)), "gpt-5", input=1)
        screen.wait_for("111,112")  # the new request, on a later redraw
        proc.send_signal(signal.SIGINT)
        assert screen.wait_exit(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
