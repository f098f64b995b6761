"""The daemon's handle on its sinks: which are enabled, the change feed they need, their threads.

``start_sinks`` runs before the writer starts: it installs the store's change-feed triggers when
a sink is enabled and removes them when none is (a store without a sink pays nothing per
write), then starts each sink's thread. The writer gets ``subscribers``; ``status.json`` gets
``snapshot()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from collector.counters import Counters
from collector.log import get_logger
from config import Config
from store import EventStore, sink_local
from store.feed import CommitSubscriber

if TYPE_CHECKING:
    from collector.sinks.shipper import PostgresShipper

__all__ = ["Sinks", "start_sinks"]

_log = get_logger(component="sinks")


class Sinks(msgspec.Struct):
    """The running sinks (none when no sink is enabled)."""

    shippers: list[PostgresShipper] = msgspec.field(default_factory=list)

    @property
    def subscribers(self) -> list[CommitSubscriber]:
        """What the writer tells after each commit."""
        return list(self.shippers)

    def snapshot(self) -> dict[str, Any]:
        """Each sink's state, by name, for ``status.json``."""
        return {s.name: s.snapshot() for s in self.shippers}

    def drain(self, timeout: float) -> bool:
        """Wait for every sink to ship what is committed (``run --once``)."""
        return all(s.drain(timeout) for s in self.shippers)

    def close(self, timeout: float = 2.0) -> None:
        """Stop every sink's thread (idempotent)."""
        for shipper in self.shippers:
            shipper.close(timeout)


def start_sinks(config: Config, store: EventStore, counters: Counters) -> Sinks:
    """Prepare the change feed and start the enabled sinks."""
    pg = config.sinks.postgres
    if not pg.enabled:
        sink_local.remove_feed(store.connection)
        return Sinks()
    # Imported only here: a daemon without a sink never loads libpq (memory, start-up time),
    # nor ``socket`` and ``hmac`` for the machine's name.
    from collector.sinks.machine import machine_identity
    from collector.sinks.shipper import SINK_NAME, PostgresShipper

    if sink_local.install_feed(store.connection, [SINK_NAME]):
        _log.info("sink_feed_installed", note="everything is shipped (again) from the start")
    machine = machine_identity(pg.machine)
    shipper = PostgresShipper(pg, store.path, counters, machine, retry_cap=pg.retry_max)
    shipper.start()
    return Sinks([shipper])
