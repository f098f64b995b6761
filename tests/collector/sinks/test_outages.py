"""Outages other than a stopped server: a read-only server and a central schema changed under
the shipper. Each time local collection goes on, ``status`` names the cause, and once the
server is fixed the shipper catches up with nothing lost or doubled."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import orjson

from tests.collector.service.daemon_harness import Instance, expect
from tests.collector.sinks.pg_server import PgServer
from tests.collector.sinks.sink_harness import (
    call_and_result,
    central_events,
    central_sessions,
    local_events,
    local_sessions,
    sink_instance,
)

SESSION = "0a7a6e00-0000-4000-8000-000000000001"


def _sink(instance: Instance) -> dict[str, object]:
    done = instance.run("status", "--json")
    return dict(orjson.loads(done.stdout)["sinks"].get("postgres") or {})


def _failing(instance: Instance, cause: str) -> dict[str, object] | None:
    """The sink's status once it is retrying for ``cause`` (the connection cut comes first)."""
    sink = _sink(instance)
    return sink if sink.get("state") == "retrying" and cause in str(sink["last_error"]) else None


def _append(instance: Instance, transcript: Path, start: int) -> None:
    with transcript.open("ab") as handle:
        for n in range(start, start + 5):
            handle.write(b"".join(call_and_result(SESSION, n * 3)))
    size = transcript.stat().st_size
    expect(lambda: instance.committed_offset(transcript) == size, 20)  # collected locally


def _kick(pg: PgServer, dbname: str, setup: str, *, inside: bool = False) -> None:
    """Run ``setup`` as superuser (in ``dbname`` when ``inside``) and end the shipper's
    session, so it meets the change at once."""
    with pg.admin(dbname if inside else "postgres") as conn:
        conn.execute(setup)
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )


@contextlib.contextmanager
def _shipping(
    tmp_path: Path, pg: PgServer, pg_db: str, machine: str, **settings: object
) -> Iterator[tuple[Instance, Path]]:
    """A daemon shipping to ``pg_db`` as ``machine``, with one Claude transcript whose first
    five calls are collected and shipped; SIGTERM on the way out must end it cleanly."""
    instance = sink_instance(tmp_path, pg, pg_db, sinks__postgres__machine=f'"{machine}"',
                             **settings)  # fmt: skip
    transcript = instance.claude / f"-work-{machine}" / f"{SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_bytes(b"")
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        _append(instance, transcript, 0)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
        yield instance, transcript
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()


def test_read_only_and_changed_schema(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    shipping = _shipping(tmp_path, pg, pg_db, "outages", sinks__postgres__retry_max=0.5)
    with shipping as (instance, transcript):
        _kick(pg, pg_db, f"ALTER DATABASE {pg_db} SET default_transaction_read_only = on")
        _append(instance, transcript, 10)
        sink = expect(lambda: _failing(instance, "the server is read-only"), 20)
        assert sink["lag_rows"]
        _kick(pg, pg_db, f"ALTER DATABASE {pg_db} RESET default_transaction_read_only")
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
        _kick(pg, pg_db, "ALTER TABLE events DROP COLUMN preview", inside=True)
        _append(instance, transcript, 20)
        expect(lambda: _failing(instance, "the schema was changed under us"), 20)
        _kick(pg, pg_db, "ALTER TABLE events ADD COLUMN preview text", inside=True)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
    central, count = central_events(pg.tcp_dsn(pg_db), "outages")
    local = local_events(instance.database)
    assert count == len(local) == 15  # 15 calls, each completed in place
    assert central == local
    assert {r["status"] for r in central.values() if r["event_type"] == "command"} == {"success"}


def test_slow_server_times_out_and_catches_up(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """A batch stuck behind a lock (a slow server) is cancelled by the statement timeout (here
    1 s, set in the DSN), status says the server is too slow, and the batch ships once the
    lock is gone."""
    dsn = pg.tcp_dsn(pg_db) + " options='-c statement_timeout=1000'"
    with _shipping(
        tmp_path, pg, pg_db, "slow", sinks__postgres__retry_max=0.5, sinks__postgres__dsn=f'"{dsn}"'
    ) as (instance, transcript):
        with pg.admin(pg_db) as blocker, blocker.transaction():
            blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            _append(instance, transcript, 10)
            expect(lambda: _failing(instance, "did not answer in time"), 20)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
    central, count = central_events(pg.tcp_dsn(pg_db), "slow")
    assert central == local_events(instance.database)
    assert count == 10


def test_central_copy_lost_is_shipped_again(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """The central tables are dropped (as a restore from an older backup would lose rows): the
    shipper sees the central cursor behind its own, recreates the schema and ships everything
    again, old rows included."""
    shipping = _shipping(tmp_path, pg, pg_db, "restored", sinks__postgres__retry_max=0.5)
    with shipping as (instance, transcript):
        _kick(pg, pg_db, "DROP TABLE events, sessions, machines, agent_viz_schema CASCADE",
              inside=True)  # fmt: skip
        _append(instance, transcript, 10)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
    central, count = central_events(pg.tcp_dsn(pg_db), "restored")
    assert central == local_events(instance.database)
    assert count == 10


def test_a_row_the_server_rejects_is_passed_over(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """A constraint added centrally rejects one row: the batch is narrowed down to it, that row
    alone is skipped (logged by key, counted) and every other row ships."""
    with _shipping(tmp_path, pg, pg_db, "picky") as (instance, transcript):
        with pg.admin(pg_db) as conn:
            conn.execute(
                "ALTER TABLE events ADD CONSTRAINT no_33 CHECK (tool_call_id <> 'toolu_33')"
            )
        _append(instance, transcript, 10)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 20)
        # Once or twice: as a new row, and again if its result completed it in a later batch.
        expect(lambda: instance.status().get("counters", {}).get("sink_rows_rejected"), 10)
    central, count = central_events(pg.tcp_dsn(pg_db), "picky")
    local = local_events(instance.database)
    missing = [key for key in local if key not in central]
    assert missing == [(f"claude-code:{SESSION}", "toolu_33")]
    assert count == len(local) - 1 == 9
    assert all(central[key] == local[key] for key in central)
    assert central_sessions(pg.tcp_dsn(pg_db), "picky") == local_sessions(instance.database)
    assert "sink_row_rejected" in instance.logs()
