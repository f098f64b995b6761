"""The team sink against a real PostgreSQL server: backfill, live appends, in-place updates, two
machines, and what ``status`` says. The daemon runs as a real subprocess."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import psycopg

from collector.counters import Counters
from collector.sinks.setup import start_sinks
from config import load_config
from config.sinks import PostgresSinkConfig, SinksConfig
from store import EventStore
from store.batch import SessionKeys, apply_records
from store.records import Event
from tests.collector.service.daemon_harness import Instance, expect
from tests.collector.sinks.pg_server import PgServer
from tests.collector.sinks.sink_harness import (
    call_and_result,
    central_events,
    central_sessions,
    local_events,
    local_sessions,
    machines,
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


def test_live_appends_arrive_within_a_second(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """With the daemon running, an appended tool call is in PostgreSQL within 1 s, and its
    result, appended later, completes the same central row in place (pending → success)."""
    instance = sink_instance(tmp_path, pg, pg_db, sinks__postgres__machine='"live"')
    session = "5e55a0e0-0000-4000-8000-000000000001"
    transcript = instance.claude / "-work-live" / f"{session}.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_bytes(b"")
    dsn = pg.tcp_dsn(pg_db)
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        for n in range(3):
            call, result = call_and_result(session, n * 3)
            with transcript.open("ab") as handle:
                handle.write(call)
            started = time.monotonic()
            row = expect(lambda n=n: _central_status(dsn, f"toolu_{n * 3}"), timeout=10)
            assert time.monotonic() - started < 1.0, "live append took over 1 s to arrive"
            assert row == "pending"
            with transcript.open("ab") as handle:
                handle.write(result)
            expect(lambda n=n: _central_status(dsn, f"toolu_{n * 3}") == "success", timeout=1.0)
        status = expect(lambda: _sink_status(instance, "caught_up"), timeout=10)
        assert status["lag_rows"] == 0
        assert status["lag_seconds"] == 0
        assert status["last_error"] is None
        assert status["machine_id"] == "live"
        human = instance.run("status").stdout
        assert "sink:      postgres caught_up, lag 0 rows" in human
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()


def _central_status(dsn: str, call_id: str) -> str | None:
    """The central row's status; None while it (or the schema) is not there yet."""
    sql = "SELECT status FROM events WHERE tool_call_id = %s"
    try:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(sql, (call_id,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else str(row[0])


def _sink_status(instance: Instance, state: str) -> dict[str, Any] | None:
    done = instance.run("status", "--json")
    sink = orjson.loads(done.stdout).get("sinks", {}).get("postgres") or {}
    return sink if sink.get("state") == state else None


def test_two_machines_into_one_database(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """Two daemons with different ``machine`` ship the same transcripts into one database: both
    copies are there, keyed apart, each equal to its own store; usage_daily adds them up."""
    dsn = pg.tcp_dsn(pg_db)
    stores = {}
    for name in ("alpha", "beta"):
        instance = sink_instance(tmp_path / name, pg, pg_db, sinks__postgres__machine=f'"{name}"')
        place_fixtures(instance, ("claude",))
        done = instance.run("run", "--once", timeout=120)
        assert done.returncode == 0, done.stderr
        stores[name] = instance.database
    assert machines(dsn) == ["alpha", "beta"]
    for name, database in stores.items():
        central, count = central_events(dsn, name)
        assert central == local_events(database)
        assert count == len(central)
    with psycopg.connect(dsn) as conn:
        per_machine = conn.execute(
            "SELECT machine_id, sum(total_tokens) FROM usage_daily_by_machine GROUP BY 1 ORDER BY 1"
        ).fetchall()
        total = conn.execute("SELECT sum(total_tokens), max(machines) FROM usage_daily").fetchone()
    assert per_machine[0][1] == per_machine[1][1] > 0
    assert total == (per_machine[0][1] * 2, 2)


def test_newer_central_schema_is_refused(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """A central schema newer than the code: nothing is written to it, status says why, and
    local collection goes on."""
    dsn = pg.tcp_dsn(pg_db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE agent_viz_schema (version integer, applied_at timestamptz, "
                     "applied_by text)")  # fmt: skip
        conn.execute("INSERT INTO agent_viz_schema VALUES (99, now(), 'future')")
    instance = sink_instance(tmp_path, pg, pg_db)
    place_fixtures(instance, ("claude",))
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        sink = expect(lambda: _sink_status(instance, "refused"), timeout=15)
        assert "central schema version 99 is newer" in sink["last_error"]
        assert "upgrade agent-viz-monitor" in sink["last_error"]
        assert sink["lag_rows"] > 0
        expect(lambda: len(local_events(instance.database)) > 500, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)
    doctor = instance.run("doctor")
    assert "central schema version 99 is newer" in doctor.stdout


def test_drain_waits_for_a_turn_after_the_last_commit(
    tmp_path: Path, pg: PgServer, pg_db: str
) -> None:
    """``drain`` (``run --once``'s last step) ships a commit the shipper was not woken for: the
    turn that said "caught up" looked before that commit and must not end the drain (its idle
    wait is a minute, so trusting it would leave the rows unshipped)."""
    postgres = PostgresSinkConfig(enabled=True, dsn=pg.tcp_dsn(pg_db), machine="m")
    config = msgspec.structs.replace(load_config(None, {}), sinks=SinksConfig(postgres=postgres))
    key = "claude-code:11111111-2222-3333-4444-555555555555"
    with EventStore(tmp_path / "events.db") as store:
        sinks = start_sinks(config, store, Counters())
        try:
            assert expect(lambda: sinks.snapshot()["postgres"]["state"] == "caught_up", 20)
            conn = store.connection
            conn.execute("BEGIN IMMEDIATE")
            events = [Event(session_id=key, agent_event_id=f"e{n}", event_type="message",
                            timestamp=f"2026-01-02T10:00:0{n}.000Z") for n in range(3)]  # fmt: skip
            apply_records(conn, events, "2026-01-02T10:00:09.000Z", SessionKeys())
            conn.execute("COMMIT")
            assert sinks.drain(20)
        finally:
            sinks.close()
    central, count = central_events(pg.tcp_dsn(pg_db), "m")
    assert count == 3
    assert sorted(k[1] for k in central) == ["e0", "e1", "e2"]
