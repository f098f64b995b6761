"""``collector.wakeup.Wakeup``: a wake-up that signal handlers can set without a lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from collector.wakeup import Wakeup

_ROOT = Path(__file__).resolve().parents[2]


def test_a_set_before_the_wait_returns_at_once_and_is_used_up() -> None:
    wake = Wakeup()
    try:
        wake.set()
        wake.set()
        assert wake.wait(30) is True
        assert wake.wait(0) is False  # both sets were one wake-up, now cleared
    finally:
        wake.close()


def test_without_a_set_the_wait_times_out() -> None:
    wake = Wakeup()
    try:
        started = time.monotonic()
        assert wake.wait(0.05) is False
        assert time.monotonic() - started >= 0.04
    finally:
        wake.close()


def test_a_set_from_another_thread_ends_a_long_wait() -> None:
    wake = Wakeup()
    waiting = threading.Event()
    try:
        setter = threading.Thread(target=lambda: (waiting.wait(30), wake.set()))
        setter.start()
        waiting.set()
        started = time.monotonic()
        assert wake.wait(30) is True
        assert time.monotonic() - started < 20
        setter.join(30)
    finally:
        wake.close()


def test_a_full_pipe_and_a_closed_wakeup_are_quiet() -> None:
    wake = Wakeup()
    for _ in range(100_000):  # far beyond a pipe's 64 KiB: the extra sets are dropped
        wake.set()
    assert wake.wait(0) is True
    assert wake.wait(0) is False  # drained whole
    wake.close()
    wake.close()
    wake.set()  # after close: nothing is written anywhere


# A timer signal every 0.7 ms whose handler sets the wake-up while the main thread waits and
# wakes in a tight loop: the handler lands inside wait() at every possible point. With a
# threading.Event in its place this hangs or dies within a second (the handler waits for the
# lock its own interrupted thread holds); the script prints how many signals it handled.
_STRESS = """
import signal, sys, time
sys.path.insert(0, ROOT)
from collector.wakeup import Wakeup
wake = Wakeup()
handled = [0]
def on_alarm(signum, frame):
    handled[0] += 1
    wake.set()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0007, 0.0007)
end = time.monotonic() + 1.5
while time.monotonic() < end:
    wake.wait(0.0001)
signal.setitimer(signal.ITIMER_REAL, 0)
wake.close()
print(handled[0])
"""


def test_signal_handlers_can_set_it_inside_any_wait() -> None:
    script = _STRESS.replace("ROOT", repr(str(_ROOT)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100  # the handler really ran, many times, during waits
