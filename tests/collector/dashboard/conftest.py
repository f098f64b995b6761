"""Fixtures of the dashboard tests: a store ingested from every fixture transcript."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.dashboard.helpers import Dashboard, fill_home
from tests.collector.service.daemon_harness import Instance


@pytest.fixture(scope="module")
def fixture_instance(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    """An isolated HOME whose store holds all fixture transcripts (``run --once``)."""
    instance = Instance(tmp_path_factory.mktemp("dash"))
    fill_home(instance)
    done = instance.run("run", "--once", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return instance


@pytest.fixture(scope="module")
def dash(fixture_instance: Instance) -> Iterator[Dashboard]:
    """The dashboard over the fixture store."""
    dashboard = Dashboard(fixture_instance)
    yield dashboard
    assert dashboard.stop() == 0


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Instance]:
    """A fresh isolated HOME; its daemons are killed at the end."""
    instance = Instance(tmp_path)
    yield instance
    instance.stop_all()
