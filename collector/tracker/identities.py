"""The exact identities of attached processes, kept across daemon restarts.

``sessions.pid_started_at`` is a wall-clock time: enough for people and dashboards, but after a
restart it can only be compared with a tolerance (the boot time it derives from moves when the
clock is stepped). So the tracker also keeps ``<database folder>/tracker-identities.json``: per
session key, the attached process's pid, start tick and boot id, rewritten atomically whenever
the set of attached processes changes. At start-up a session found there is judged exactly (same
pid, same start tick, same boot: the same process; anything else: gone), and only a session
missing from it falls back to the stored ``pid_started_at``. A lost or corrupt file costs
exactness, never correctness of anything else: it is read as empty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import orjson

from collector.atomic import write_atomic
from collector.tracker.process import ProcessIdentity
from config.paths import identities_path

__all__ = ["IdentityFile"]


class IdentityFile:
    """Reads and rewrites the identities file beside the database."""

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.path = identities_path(database)
        self._written: dict[str, ProcessIdentity] | None = None

    def load(self) -> dict[str, ProcessIdentity]:
        """Session key → identity, as last written (empty when absent or unreadable)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        out = {}
        for key, value in data.items():
            identity = ProcessIdentity.from_dict(value)
            if isinstance(key, str) and identity is not None:
                out[key] = identity
        self._written = dict(out)
        return out

    def save(self, identities: Mapping[str, ProcessIdentity]) -> None:
        """Rewrite the file when ``identities`` differ from what it holds."""
        if self._written == identities:
            return
        data = orjson.dumps({key: ident.to_dict() for key, ident in identities.items()})
        try:
            write_atomic(self.path, data)
        except OSError:
            return
        self._written = dict(identities)
