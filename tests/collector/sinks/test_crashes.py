"""Exactly once in effect: the daemon is SIGKILLed again and again while it ships, PostgreSQL is
restarted under it and stopped for an outage while transcripts keep growing. At the end the
central tables equal the local store row for row: nothing lost, nothing twice, every tool call
completed in place and every session status as the store has it."""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect
from tests.collector.service.test_exactly_once import run_writer
from tests.collector.sinks.pg_server import PgServer
from tests.collector.sinks.sink_harness import (
    call_and_result,
    central_events,
    central_sessions,
    local_events,
    local_sessions,
    sink_instance,
)

SOURCES = [
    "drm-python-to-rust-port.jsonl",
    "drm-coverage-test-fix.jsonl",
    "guideai-claude-code-sample-2.jsonl",
    "codemie-session-196820da.jsonl",
    "codemie-session-3fe1b6bc.jsonl",
    "drm-hello-world-script.jsonl",
]


def _plans(files: list[Path]) -> tuple[list[list[str]], list[list[str]]]:
    """Each file gets one transcript's lines in order: the first half now, the rest later (so
    calls shipped as pending are completed by results that come after)."""
    first: list[list[str]] = []
    second: list[list[str]] = []
    for path, name in zip(files, SOURCES, strict=True):
        lines = claude_lines(name)
        half = len(lines) // 2
        first += [[str(path), line.hex(), "whole"] for line in lines[:half]]
        second += [[str(path), line.hex(), "whole"] for line in lines[half:]]
    return first, second


def _live_lines(path: Path, start: int) -> list[list[str]]:
    """Two tool calls and their results stamped now."""
    now = datetime.now(UTC)
    lines = [line for n in (start, start + 3) for line in call_and_result(path.stem, n, now)]
    return [[str(path), line.hex(), "whole"] for line in lines]


def _sink(instance: Instance) -> dict[str, object]:
    done = instance.run("status", "--json")
    try:
        return dict(orjson.loads(done.stdout)["sinks"].get("postgres") or {})
    except (orjson.JSONDecodeError, KeyError):
        return {}


def _kill_cycles(instance: Instance, pg: PgServer, rng: random.Random, kills: int,
                 restarts: int) -> None:  # fmt: skip
    """``kills`` daemon runs each ended by SIGKILL at a random moment; ``restarts`` of them
    also see PostgreSQL restarted (fast shutdown: sessions cut) while they ship."""
    restart_at = set(rng.sample(range(kills), restarts)) if restarts else set()
    for cycle in range(kills):
        proc = instance.start()
        time.sleep(rng.uniform(0.2, 1.0))  # the random moment of the crash, not synchronisation
        if cycle in restart_at:
            pg.restart()
            time.sleep(rng.uniform(0.1, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def _central_pending(dsn: str) -> set[str]:
    try:
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("SELECT tool_call_id FROM events WHERE status = 'pending'")
            return {str(r[0]) for r in rows}
    except psycopg.errors.UndefinedTable:
        return set()


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param((8, 2, 4.0), id="ci"),
        pytest.param((50, 5, 60.0), id="soak", marks=pytest.mark.slow),
    ],
)
def test_kills_restarts_and_outage_lose_nothing(
    tmp_path: Path, pg: PgServer, pg_db: str, scenario: tuple[int, int, float]
) -> None:
    """(kills, PostgreSQL restarts, outage seconds): 8, 2 and 4 s in the default run; the
    issue's 50, 5 and 60 s as the slow soak."""
    kills, restarts, outage = scenario
    rng = random.Random(kills)
    instance = sink_instance(
        tmp_path, pg, pg_db, sinks__postgres__machine='"crashy"', sinks__postgres__retry_max=1.0,
        sinks__postgres__batch_rows=150, tracker__enabled="true", tracker__idle_after=1.0,
        tracker__scan_interval=0.5,
    )  # fmt: skip
    folder = instance.claude / "-work-crash"
    folder.mkdir(parents=True)
    files = [folder / f"{i:08x}-0000-4000-8000-{i:012x}.jsonl" for i in range(len(SOURCES))]
    first, second = _plans(files)
    # One session written as it happens, with no process: the tracker moves it running →
    # unknown (and back) as its lines come and stop.
    live = folder / "00000000-1111-4000-8000-000000000000.jsonl"
    files.append(live)
    first += _live_lines(live, 0)
    dsn = pg.tcp_dsn(pg_db)
    try:
        assert run_writer(tmp_path, first, "phase1").wait(60) == 0
        _kill_cycles(instance, pg, rng, kills // 2, restarts)
        pending_before = _central_pending(dsn)
        # The outage: PostgreSQL is down while the transcripts grow; the store keeps collecting.
        pg.stop()
        writer = run_writer(tmp_path, second + _live_lines(live, 6), "phase2")
        proc = instance.start()
        instance.wait_ready(proc)
        assert writer.wait(60) == 0
        expect(lambda: all(instance.committed_offset(f) == f.stat().st_size for f in files), 60)
        sink = expect(lambda: (s := _sink(instance)).get("state") == "retrying" and s, 20)
        assert sink["lag_rows"], sink
        assert "nothing listens" in str(sink["last_error"]) or "server" in str(sink["last_error"])
        time.sleep(max(0.0, outage - 2.0))  # the rest of the outage (scenario time, not a wait)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        pg.start()
        _kill_cycles(instance, pg, rng, kills - kills // 2, 0)
        proc = instance.start()
        instance.wait_ready(proc)
        expect(lambda: _sink(instance).get("state") == "caught_up", 120)
        expect(lambda: _sink(instance).get("lag_rows") == 0, 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, instance.logs()
    finally:
        instance.stop_all()
    local, (central, count) = local_events(instance.database), central_events(dsn, "crashy")
    assert count == len(central) == len(local), "lost or duplicated rows"
    assert set(central) == set(local)
    differing = [k for k in local if local[k] != central[k]]
    assert not differing, f"{len(differing)} rows differ, e.g. {differing[:3]}"
    assert central_sessions(dsn, "crashy") == local_sessions(instance.database)
    completed = {r["tool_call_id"] for r in central.values() if r["status"] in ("success", "error")}
    assert pending_before & completed, "no call shipped as pending was completed in place"
    assert any(r["event_type"] == "status_change" for r in central.values())
    assert len(local) > 300
