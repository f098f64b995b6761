"""Fixtures of the tracker's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.tracker.rig import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A rig whose stand-ins and daemons are gone after the test."""
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()
