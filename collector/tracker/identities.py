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

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import orjson

from collector.tracker.process import ProcessIdentity

__all__ = ["IdentityFile"]


class IdentityFile:
    """Reads and rewrites the identities file beside the database."""

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.path = Path(database).parent / "tracker-identities.json"
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
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
            return
        self._written = dict(identities)
