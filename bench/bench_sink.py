#!/usr/bin/env python3
"""Team-sink benchmark: shipping into a local PostgreSQL against the local backfill, the change
feed's cost on the writer, idle CPU with the sink on, and catch-up after an outage.

A throwaway PostgreSQL is started for the run (initdb + pg_ctl, as the tests do; ``--dsn`` uses
an existing server instead: each rep gets a fresh database in it). On a corpus made by
``../shared/bench/gen_corpus.py``:

1. backfill: ``run --once`` with no sink (fresh HOME) -> events/s; then, on that store, the
   shipper in this process ships everything from cursor 0 until the lag is 0 -> events/s; the
   ratio shipping / backfill (goal >= 1.0: the shipper keeps up with a backfill).
2. feed cost: ``run --once`` again on a fresh HOME with the sink enabled but its server
   unreachable (the change-feed triggers are installed, the shipper backs off): the backfill's
   slow-down from the triggers alone (the writer's hot path with no sink enabled has none).
3. idle: a daemon with the sink enabled on a caught-up store, CPU over ``--idle-seconds``
   (goal <= 0.2 % of a core), next to the same daemon with no sink.
4. catch-up: a backlog of ``--outage-minutes`` x ``--rate`` events (10 min x 200 events/s =
   120,000 by default) committed while the server is down; the server comes back, and we time
   until the lag is 0 (the first retry waits up to ``retry_max``, default 30 s; also printed:
   the time from the first shipped batch).

Then ``ceiling.py`` on the same corpus, in the same invocation, for the anchor ratio.

    ../shared/bench/gen_corpus.py /tmp/corpus --mb 50
    .venv/bin/python bench/bench_sink.py /tmp/corpus [--reps 3] [--idle-seconds 60]
        [--ceiling ../shared/bench/ceiling.py] [--dsn DSN] [--json]

How to quote: ``shipping 21k events/s = 1.8 x backfill (12k events/s), backfill 0.7 x ceiling;
feed triggers +3 % backfill time; idle +0.01 % of a core; catch-up of 120k events 9.5 s;
medians of 3, 50 MiB corpus`` and the machine note printed with them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from corpus_records import apply_in_batches, parsed_records
from daemon_home import SHARED_BENCH, DaemonHome, corpus_size, machine_note, warm_page_cache

from collector.counters import Counters
from collector.sinks.shipper import SINK_NAME, PostgresShipper
from config.sinks import PostgresSinkConfig
from store import EventStore, sink_local
from tests.collector.sinks.pg_server import PgServer, free_port


class SinkHome(DaemonHome):
    """A bench HOME whose daemon gets extra ``AGENT_VIZ_MONITOR_*`` settings."""

    def __init__(self, settings: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    @property
    def env(self) -> dict[str, str]:
        return super().env | {f"AGENT_VIZ_MONITOR_{k}": v for k, v in self.settings.items()}


def _sink_settings(dsn: str, **extra: str) -> dict[str, str]:
    return {"SINKS__POSTGRES__ENABLED": "true", "SINKS__POSTGRES__DSN": json.dumps(dsn),
            "TRACKER__ENABLED": "false", **extra}  # fmt: skip


class Server:
    """Fresh databases on a throwaway server (or on ``--dsn``'s)."""

    def __init__(self, dsn: str | None) -> None:
        self.pg = None if dsn else PgServer()
        self.dsn = dsn

    def database(self) -> str:
        if self.pg is not None:
            return self.pg.tcp_dsn(self.pg.new_database())
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn or "", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{self.dsn} dbname={name}"

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


# 1. backfill and shipping -------------------------------------------------------------------
def backfill_and_ship(projects: Path, dsn: str) -> dict[str, Any]:
    with DaemonHome(prefix="bench-sink-") as home:
        home.link_root(projects)
        done = home.run_once()
        if done.code != 0:
            raise SystemExit(f"run --once exited {done.code}:\n{home.log_tail()}")
        events = home.query("SELECT COUNT(*) FROM events")[0][0]
        shipped = ship_store(home.database, dsn)
    return {"events": events, "backfill_s": round(done.seconds, 3),
            "backfill_cpu_s": round(done.cpu_user + done.cpu_system, 3),
            "backfill_eps": events / done.seconds, **shipped}  # fmt: skip


def ship_store(database: Path, dsn: str) -> dict[str, Any]:
    """Ship a whole store from cursor 0 with the daemon's shipper; seconds until lag 0."""
    with EventStore(database) as store:
        sink_local.install_feed(store.connection, [SINK_NAME])
        rows = sink_local.read_lag(store.connection, SINK_NAME).rows
    config = PostgresSinkConfig(enabled=True, dsn=dsn)
    shipper = PostgresShipper(config, str(database), Counters(), ("bench", "bench"))
    cpu = psutil.Process().cpu_times()
    started = time.perf_counter()
    shipper.start()
    try:
        if not shipper.drain(3600):
            raise SystemExit(f"shipping failed: {shipper.snapshot()}")
    finally:
        shipper.close()
    seconds = time.perf_counter() - started
    after = psutil.Process().cpu_times()
    events = _count(database, "SELECT COUNT(*) FROM events")
    if _stored_lag(database) != 0 or _central_count(dsn) != events:
        raise SystemExit("shipping incomplete: the central table does not hold every event")
    return {"ship_s": round(seconds, 3), "ship_eps": events / seconds, "ship_rows": rows,
            "ship_cpu_s": round(after.user + after.system - cpu.user - cpu.system, 2)}  # fmt: skip


def _central_count(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT COUNT(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _count(database: Path, sql: str) -> int:
    with EventStore(database, readonly=True) as store:
        return int(store.connection.execute(sql).fetchone()[0])


# 2. the feed's cost on the writer ------------------------------------------------------------
def backfill_with_feed(projects: Path) -> tuple[float, float]:
    """``run --once`` with the sink on but its server unreachable: triggers, no shipping."""
    dsn = f"host=127.0.0.1 port={free_port()} user=nobody dbname=none connect_timeout=1"
    with SinkHome(_sink_settings(dsn), prefix="bench-sink-feed-") as home:
        home.link_root(projects)
        done = home.run_once()
        if done.code != 0:
            raise SystemExit(f"run --once exited {done.code}:\n{home.log_tail()}")
        return done.seconds, done.cpu_user + done.cpu_system


def writer_cost(projects: Path, reps: int) -> dict[str, float]:
    """CPU per stored record of the writer's transaction (``apply_records`` + COMMIT, batches
    of 100 as the writer makes them) on a fresh store, without and with the feed's triggers:
    what the change feed costs the hot path (nothing exists to cost without a sink)."""
    records = parsed_records(projects)
    out: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(reps):
        for mode in ("off", "on"):
            with (
                tempfile.TemporaryDirectory(prefix="bench-sink-writer-") as tmp,
                EventStore(Path(tmp) / "events.db") as store,
            ):
                if mode == "on":
                    sink_local.install_feed(store.connection, [SINK_NAME])
                out[mode].append(apply_in_batches(store, records) / len(records) * 1e6)
    return {mode: statistics.median(values) for mode, values in out.items()}


# 3. idle -------------------------------------------------------------------------------------
def idle_cpu(projects: Path, dsn: str | None, seconds: float) -> float:
    """% of a core a caught-up daemon uses over ``seconds`` (sink on when ``dsn``)."""
    settings = _sink_settings(dsn) if dsn else {"TRACKER__ENABLED": "false"}
    with SinkHome(settings, prefix="bench-sink-idle-") as home:
        home.link_root(projects)
        home.start("run")
        _until(lambda: _lag(home) == 0 if dsn else _ingested(home), 600, home)
        time.sleep(3.0)  # let the backfill's after-work (checkpoint, memory release) pass
        proc = psutil.Process(home.pid)
        before = proc.cpu_times()
        time.sleep(seconds)  # the measured idle window
        after = proc.cpu_times()
        home.stop()
    return 100 * (after.user + after.system - before.user - before.system) / seconds


def _lag(home: DaemonHome) -> int | None:
    status = home.status() or {}
    return (status.get("sinks") or {}).get(SINK_NAME, {}).get("lag_rows")


def _stored_lag(database: Path) -> int:
    """The lag as the store has it (the daemon's status file lags while the server is down)."""
    with EventStore(database, readonly=True) as store:
        return sink_local.read_lag(store.connection, SINK_NAME).rows


def _ingested(home: DaemonHome) -> bool:
    status = home.status() or {}
    return bool(status.get("pid")) and home.query("SELECT COUNT(*) FROM files")[0][0] > 0


def _until(predicate: Any, timeout: float, home: DaemonHome) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or not home.alive():
            raise SystemExit(f"condition not met:\n{home.log_tail()}")
        time.sleep(0.1)


# 4. catch-up after an outage ----------------------------------------------------------------
def catch_up(server: Server, backlog: int) -> dict[str, Any]:
    """``backlog`` events committed while the server is down, then the time to lag 0."""
    if server.pg is None:
        return {"skipped": "needs the throwaway server (it is stopped and started)"}
    dsn = server.database()
    with SinkHome(_sink_settings(dsn), prefix="bench-sink-outage-") as home:
        folder = home.claude_root / "-bench-outage"
        folder.mkdir(parents=True)
        server.pg.stop()
        home.start("run")
        _write_backlog(folder, backlog)
        count = "SELECT COUNT(*) FROM events"
        _until(lambda: home.database.exists() and home.query(count)[0][0] >= backlog, 900, home)
        server.pg.start()
        back = time.perf_counter()
        first: float | None = None
        while (lag := _stored_lag(home.database)) != 0:
            if first is None and lag is not None and lag < backlog:
                first = time.perf_counter() - back
            if not home.alive() or time.perf_counter() - back > 900:
                raise SystemExit(f"no catch-up:\n{home.log_tail()}")
            time.sleep(0.1)
        total = time.perf_counter() - back
        home.stop()
    return {"backlog": backlog, "catch_up_s": round(total, 1),
            "after_first_batch_s": round(total - (first or 0.0), 1)}  # fmt: skip


def _write_backlog(folder: Path, events: int) -> None:
    """Claude lines of one user message each (one event per line), over 20 sessions."""
    per_file = events // 20 + 1
    for f in range(20):
        session = str(uuid.UUID(int=f + 1, version=4))
        with (folder / f"{session}.jsonl").open("wb") as handle:
            for n in range(per_file):
                stamp = f"2026-01-02T10:{(n // 1000) % 60:02d}:{(n // 10) % 60:02d}.{n % 1000:03d}Z"
                line = {"type": "user", "sessionId": session, "uuid": f"{f}-{n}",
                        "timestamp": stamp, "cwd": "/bench",
                        "message": {"role": "user", "content": f"prompt {n}"}}  # fmt: skip
                handle.write(json.dumps(line).encode() + b"\n")


# main ---------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a gen_corpus.py output folder")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--outage-minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s during the outage")
    parser.add_argument("--ceiling", type=Path, default=SHARED_BENCH / "ceiling.py")
    parser.add_argument("--dsn", help="an existing server (default: a throwaway one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    projects = args.corpus / "projects"
    size = corpus_size(projects)
    warm_page_cache(projects)
    print(f"corpus {args.corpus}: {size.files} files, {size.lines} lines, "
          f"{size.bytes / 2**20:.1f} MiB; {machine_note()}", flush=True)  # fmt: skip
    server = Server(args.dsn)
    try:
        results = _run_all(args, projects, server)
    finally:
        server.close()
    if args.ceiling.exists():
        results["ceiling"] = _ceiling(args.corpus, args.ceiling, args.reps)
    _print(results, size.lines)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


def _run_all(args: argparse.Namespace, projects: Path, server: Server) -> dict[str, Any]:
    reps = []
    for rep in range(args.reps):
        result = backfill_and_ship(projects, server.database())
        wall, cpu = backfill_with_feed(projects)
        result["feed_backfill_s"], result["feed_backfill_cpu_s"] = round(wall, 3), round(cpu, 3)
        reps.append(result)
        print(f"rep {rep + 1}: backfill {result['backfill_eps']:.0f} events/s "
              f"({result['backfill_s']} s), shipping {result['ship_eps']:.0f} events/s "
              f"({result['ship_s']} s, {result['ship_cpu_s']} s client CPU), with feed triggers "
              f"{result['feed_backfill_s']} s; CPU {result['backfill_cpu_s']} s without, "
              f"{result['feed_backfill_cpu_s']} s with", flush=True)  # fmt: skip
    writer = writer_cost(projects, args.reps)
    print(f"writer: {writer['off']:.1f} µs CPU per record without a sink, {writer['on']:.1f} µs "
          "with the feed's triggers", flush=True)  # fmt: skip
    idle = {
        "sink_off": idle_cpu(projects, None, args.idle_seconds),
        "sink_on": idle_cpu(projects, server.database(), args.idle_seconds),
    }
    print(f"idle: {idle['sink_on']:.3f} % of a core with the sink, {idle['sink_off']:.3f} % "
          f"without, over {args.idle_seconds:.0f} s", flush=True)  # fmt: skip
    outage = catch_up(server, int(args.outage_minutes * 60 * args.rate))
    print(f"outage: {outage}", flush=True)
    return {"reps": reps, "idle": idle, "outage": outage, "writer": writer}


def _ceiling(corpus: Path, script: Path, reps: int) -> dict[str, Any]:
    import subprocess

    out = subprocess.run([sys.executable, str(script), str(corpus), "--reps", str(reps),
                          "--json"], check=True, capture_output=True, text=True)  # fmt: skip
    return dict(json.loads(out.stdout))


def _print(results: dict[str, Any], lines: int) -> None:
    reps = results["reps"]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in reps)

    ratio = med("ship_eps") / med("backfill_eps")
    feed = (med("feed_backfill_cpu_s") / med("backfill_cpu_s") - 1) * 100
    writer = results["writer"]
    hot = (writer["on"] / writer["off"] - 1) * 100
    text = (f"shipping {med('ship_eps'):.0f} events/s = {ratio:.2f} x backfill "
            f"({med('backfill_eps'):.0f} events/s); "
            f"feed triggers {hot:+.1f} % writer CPU per record (no sink: no triggers, +0); "
            f"sink on, server unreachable: {feed:+.1f} % backfill CPU "
            "(with loading psycopg)")  # fmt: skip
    ceiling = results.get("ceiling")
    if ceiling:
        backfill_lines = lines / med("backfill_s")
        text += f"; backfill {backfill_lines / ceiling['lines_per_s']:.2f} x ceiling"
    idle, outage = results["idle"], results["outage"]
    text += (f"; idle +{idle['sink_on'] - idle['sink_off']:.3f} % of a core "
             f"({idle['sink_on']:.3f} % with the sink)")  # fmt: skip
    if "catch_up_s" in outage:
        text += (f"; catch-up of {outage['backlog']} events {outage['catch_up_s']} s "
                 f"({outage['after_first_batch_s']} s after the first batch)")  # fmt: skip
    print(f"{text}; medians of {len(reps)}")


if __name__ == "__main__":
    sys.exit(main())
