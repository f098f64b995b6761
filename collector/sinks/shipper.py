"""The PostgreSQL shipper: one thread that ships what the writer committed, exactly once in effect.

Each turn reads the next batch after the sink's cursor from the local store (its own SQLite
connection, ``store.sink_local``), upserts it into PostgreSQL in one transaction
(``store.postgres``), and only after that commit advances the cursor locally. A crash or kill
between the two re-ships the batch, which the natural-key upsert makes harmless.

The writer never waits for it: ``on_commit`` only sets an Event. When PostgreSQL is down,
unreachable, slow, read-only or full, the batch is retried with capped back-off, the store keeps
collecting (it is the buffer, on disk: memory stays flat however long the outage) and the
shipper catches up when the server returns. A central schema newer than this code stops
shipping (state ``refused``) until someone upgrades; it is still re-checked every ``cap``.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg

from collector.counters import Counters
from collector.log import get_logger
from collector.sinks.backoff import Backoff
from collector.sinks.connection import open_connection
from collector.sinks.diagnose import Diagnosis, diagnose
from config.errors import MonitorError, StoreError
from config.sinks import PostgresSinkConfig
from store import sink_local
from store.connection import Connection
from store.feed import CommitSummary
from store.postgres import ensure_schema, prepare_connection, ship_batch, shipped_cursor
from store.timestamps import format_timestamp

__all__ = ["SINK_NAME", "PostgresShipper"]

SINK_NAME = "postgres"
_log = get_logger(component="sink.postgres")
_IDLE_POLL = 60.0  # seconds between turns when nothing is committed (keeps the lag fresh)
_STATEMENT_TIMEOUT_MS = 60_000
_MIN_ROWS = 100
_Rows = list[tuple[Any, ...]]


class PostgresShipper:
    """``start()``, then ``on_commit`` wakes it; ``close()`` stops it (idempotent)."""

    name = SINK_NAME

    def __init__(
        self,
        config: PostgresSinkConfig,
        database: str,
        counters: Counters,
        machine: tuple[str, str],
        *,
        retry_cap: float = 10.0,
    ) -> None:
        self.config = config
        self.database = database
        self.counters = counters
        self.machine_id, self.label = machine
        self.backoff = Backoff(cap=retry_cap)
        self._limit = config.batch_rows
        self._skip = False  # the next (one-row) batch is the row the server rejects
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pg: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()
        # Turns begun and finished: ``drain`` trusts only a turn that began after it was called,
        # since the state of an earlier turn may predate the writer's last commit.
        self._turns_begun = 0
        self._turns_done = 0
        self._state: dict[str, Any] = {
            "state": "starting", "machine_id": self.machine_id, "label": self.label,
            "lag_rows": None, "lag_seconds": None, "last_error": None, "last_error_at": None,
            "error_kind": None, "shipped_rows": 0, "shipped_at": None, "server_version": None,
        }  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="sink-postgres", daemon=True)

    # the seam --------------------------------------------------------------------------------
    def on_commit(self, summary: CommitSummary) -> None:
        """Called on the writer's thread after each commit: only wake up."""
        self._wake.set()

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop: cancel a batch in flight (it is re-shipped next time) and join."""
        self._stop.set()
        self._wake.set()
        pg = self._pg
        if pg is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                pg.cancel_safe(timeout=1.0)
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Is the thread running."""
        return self._thread.is_alive()

    def drain(self, timeout: float) -> bool:
        """Wait until everything committed so far is shipped (True) or shipping fails (False).

        "Caught up" counts only from a turn that began after this call: a turn that looked before
        the writer's last commit reports caught up with rows still to ship (``run --once``'s
        last batch is often its only one)."""
        deadline = time.monotonic() + timeout
        with self._guard:
            wanted = self._turns_begun + 1
        while time.monotonic() < deadline and self._thread.is_alive():
            with self._guard:
                state, fresh = dict(self._state), self._turns_done >= wanted
            if fresh and state["state"] == "caught_up" and state["lag_rows"] == 0:
                return True
            if state["state"] in ("retrying", "refused"):  # failing: no wait for a retry
                return False
            self._wake.set()
            time.sleep(0.05)
        return False

    def snapshot(self) -> dict[str, Any]:
        """The sink's state for ``status`` (a copy)."""
        with self._guard:
            return dict(self._state)

    def _set(self, **values: Any) -> None:
        with self._guard:
            self._state.update(values)

    # the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            local = sink_local.connect(self.database)
        except StoreError as exc:
            self._set(state="failed", last_error=f"cannot open the local store: {exc.reason}")
            _log.error("sink_failed", error=exc.reason)
            return
        try:
            while not self._stop.is_set():
                with self._guard:
                    self._turns_begun += 1
                    turn = self._turns_begun
                delay = self._turn(local)
                with self._guard:
                    self._turns_done = turn
                if self.backoff.failures:  # a retry waits its turn: commits do not hurry it
                    self._stop.wait(delay)
                elif delay > 0:
                    self._wake.wait(delay)
                self._wake.clear()
        finally:
            self._disconnect()
            local.close()
            self._set(state="stopped")

    def _turn(self, local: Connection) -> float:
        """Ship one batch; the wait before the next turn (0: at once)."""
        try:
            return self._ship_one(local)
        except psycopg.Error as exc:
            why = diagnose(getattr(exc, "sqlstate", None), str(exc))
        except StoreError as exc:
            why = Diagnosis("local", f"local store: {exc.reason}", "see doctor")
        except MonitorError as exc:  # a newer central schema, an unreadable dsn_file
            why = Diagnosis("refused", str(exc), "upgrade, or fix the config", retry=False)
        except Exception as exc:  # one bad batch must not kill the thread
            _log.exception("sink_turn_failed")
            why = Diagnosis("other", repr(exc), "see the daemon's log")
        delay = self._failed(why)
        self._update_lag(local)
        return delay

    def _ship_one(self, local: Connection) -> float:
        if self.backoff.failures or self._pg is None:
            self._connected(local)  # a down server is found before a batch is read for it
        pending = sink_local.read_pending(local, SINK_NAME, self._limit,
                                          include_raw=self.config.include_raw)  # fmt: skip
        if not pending.moved:
            self._caught_up(local)
            return _IDLE_POLL
        if self._skip and not pending.empty:
            self._isolate(self._connected(local), pending)
        elif not pending.empty:
            pg = self._connected(local)
            started = time.perf_counter()
            ship_batch(pg, self.machine_id, self.label, pending)
            self._note_shipped(len(pending.sessions) + len(pending.events), started)
        sink_local.advance(local, SINK_NAME, pending)
        self._update_lag(local)
        if self.backoff.failures:
            _log.info("sink_recovered", attempts=self.backoff.failures)
        self.backoff.reset()
        self._limit = min(self.config.batch_rows, self._limit * 2)
        return 0.0

    def _note_shipped(self, rows: int, started: float) -> None:
        self.counters.add("sink_rows_shipped", rows)
        self.counters.add("sink_batches")
        with self._guard:
            self._state["shipped_rows"] += rows
            self._state["shipped_at"] = format_timestamp(datetime.now(UTC))
            self._state["state"] = "shipping"
            self._state["batch_ms"] = round((time.perf_counter() - started) * 1000, 1)

    def _caught_up(self, local: Connection) -> None:
        self._set(state="caught_up")
        self._update_lag(local)

    def _update_lag(self, local: Connection) -> None:
        try:
            lag = sink_local.read_lag(local, SINK_NAME)
        except StoreError:
            return
        self._set(lag_rows=lag.rows, lag_seconds=lag.seconds())

    def _connected(self, local: Connection) -> psycopg.Connection[Any]:
        if self._pg is not None and not self._pg.closed:
            return self._pg
        self._set(state="connecting")
        pg = open_connection(self.config)
        try:
            found = ensure_schema(pg, self.machine_id)
            prepare_connection(pg, _STATEMENT_TIMEOUT_MS)
            self._check_behind(pg, local)
        except BaseException:
            pg.close()
            raise
        if found == 0:
            _log.info("sink_schema_created", machine=self.machine_id)
        self._pg = pg
        self._set(server_version=pg.info.server_version)
        _log.info("sink_connected", machine=self.machine_id, server=pg.info.server_version)
        return pg

    def _check_behind(self, pg: psycopg.Connection[Any], local: Connection) -> None:
        """A central copy behind our cursor (restored from a backup, schema recreated, another
        database) lost rows it had confirmed: ship everything again, idempotently."""
        central = shipped_cursor(pg, self.machine_id)
        mine = sink_local.read_cursor(local, SINK_NAME)
        if mine.event_cursor and (central is None or central[0] < mine.event_cursor):
            _log.warning("sink_central_behind", central=central, local=mine.event_cursor,
                         action="shipping everything again")  # fmt: skip
            sink_local.start_over(local, SINK_NAME)

    def _disconnect(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            with contextlib.suppress(psycopg.Error):
                pg.close()

    def _isolate(self, pg: psycopg.Connection[Any], pending: sink_local.Pending) -> None:
        """Ship a small batch PostgreSQL keeps refusing row by row: a row the server rejects
        (a value or a constraint) is passed over so it cannot stop the rows behind it. It stays
        in the local store; its key (never its content) is logged and counted."""
        self._skip = False
        rows: list[tuple[_Rows, _Rows]] = [([s], []) for s in pending.sessions]
        rows += [([], [e]) for e in pending.events]
        for sessions, events in rows:
            one = msgspec.structs.replace(pending, sessions=sessions, events=events)
            try:
                ship_batch(pg, self.machine_id, self.label, one)
            except psycopg.Error as exc:
                if diagnose(exc.sqlstate, str(exc)).kind != "rejected":
                    raise
                key = f"{sessions[0][1]}" if sessions else f"{events[0][2]}/{events[0][3]}"
                self.counters.add("sink_rows_rejected")
                _log.error("sink_row_rejected", key=key, error=str(exc).splitlines()[0])

    def _narrow(self) -> float:
        """A batch was rejected for its data: halve it until the bad row is alone, then skip
        that row (``_reject``). No back-off: the server is fine."""
        if self._limit == 1:
            self._skip = True
        self._limit = max(1, self._limit // 2)
        return 0.0

    def _failed(self, why: Diagnosis) -> float:
        if why.kind == "rejected":
            self._set(state="retrying", last_error=why.cause, error_kind=why.kind,
                      last_error_at=format_timestamp(datetime.now(UTC)), fix=why.fix)  # fmt: skip
            self.counters.add("sink_failures")
            return self._narrow()
        self._disconnect()
        if why.kind == "slow":  # a batch too big for the server's pace: halve it
            self._limit = max(_MIN_ROWS, self._limit // 2)
        first = self.backoff.failures == 0
        delay = self.backoff.next_delay(random.random())
        if not why.retry:
            delay = self.backoff.cap
        self.counters.add("sink_failures")
        state = "refused" if why.kind in ("refused", "too_old") else "retrying"
        self._set(state=state, last_error=why.cause, error_kind=why.kind,
                  last_error_at=format_timestamp(datetime.now(UTC)), fix=why.fix)  # fmt: skip
        if first or self.backoff.failures % 20 == 0:  # once per outage, then rarely
            _log.error("sink_failed", kind=why.kind, error=why.cause,
                       attempts=self.backoff.failures, retry_in=round(delay, 1))  # fmt: skip
        return delay
