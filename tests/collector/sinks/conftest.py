"""One throwaway PostgreSQL server for the sink tests (see pg_server.py); each test gets its own
empty database in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collector.sinks.pg_server import PgServer, bin_dir


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running server for the whole session (tests that stop it start it again)."""
    if bin_dir() is None:
        pytest.skip("PostgreSQL server not installed (.ci/run installs Debian's postgresql)")
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg(pg_server: PgServer) -> Iterator[PgServer]:
    """The server, running (a test that stopped it left it for this fixture to restart)."""
    yield pg_server
    if not pg_server.running():
        pg_server.start()


@pytest.fixture
def pg_db(pg: PgServer) -> str:
    """A fresh database's name."""
    return pg.new_database()
