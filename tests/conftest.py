"""Hygiene for every test: no leaked threads, logging reset between tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from collector.log import reset_logging


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Threads a test starts must be gone when it ends (every edge has an idempotent close)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts from the logging defaults, whatever the previous one configured."""
    yield
    reset_logging()
