"""The team sink against a real PostgreSQL server: backfill, live appends, in-place updates, two
machines, and what ``status`` says. The daemon runs as a real subprocess."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.sinks.pg_server import PgServer
from tests.sinks.sink_harness import (
    central_events,
    central_sessions,
    local_events,
    local_sessions,
    place_fixtures,
    sink_instance,
)


def test_backfill_ships_every_row_equal(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """``run --once`` over the fixtures: every local event and session is in PostgreSQL once,
    column for column, raw_data withheld (include_raw defaults to false)."""
    instance = sink_instance(tmp_path, pg, pg_db, sinks__postgres__machine='"laptop"')
    place_fixtures(instance)
    done = instance.run("run", "--once", timeout=120)
    assert done.returncode == 0, done.stderr
    local = local_events(instance.database)
    assert len(local) > 1000
    central, count = central_events(pg.tcp_dsn(pg_db), "laptop")
    assert count == len(central) == len(local)
    assert central == local
    assert all(row["raw_data"] is None for row in central.values())
    assert central_sessions(pg.tcp_dsn(pg_db), "laptop") == local_sessions(instance.database)
    status = orjson.loads(instance.run("status", "--json").stdout)
    sink = status["sinks"]["postgres"]
    assert sink["lag_rows"] == 0
    assert sink["state"] == "stopped"  # no daemon runs now; the store says nothing is behind
