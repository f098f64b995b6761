"""The tracker's book of sessions: who is tracked, and which process each one is tied to.

One process writes one top-level session at a time, so attaching a process to a session takes
it from any other session that had it — unless that one was named by a stronger source
(``tracking.STRENGTH``): a directory guess never overrides a hook. A session whose process was
taken is over (Claude Code's ``/clear`` starts a new session in the same process). Attaching to
a session that had ended (crashed, completed, …) revives it: only live processes are attached,
and every attach re-reads the process's identity, so a reused pid can never do this.

Subagent sessions are never attached; they share their parent's process (``process_of``).
Only the tracker thread uses the book.
"""

from __future__ import annotations

from collections.abc import Iterator

from collector.log import get_logger
from collector.tracker.liveness import ExitWatcher
from collector.tracker.model import STRENGTH, Registration, Tracked
from collector.tracker.process import ProcessIdentity
from collector.tracker.session_status import TERMINAL
from store.reads.activity import ActivityReader, SessionRow

__all__ = ["SessionBook"]

_log = get_logger(component="tracker")


class SessionBook:
    """Tracked sessions by id and key, with their processes watched for exit."""

    def __init__(self, reader: ActivityReader, exits: ExitWatcher) -> None:
        self.reader = reader
        self.exits = exits
        self.sessions: dict[int, Tracked] = {}
        self._keys: dict[str, int] = {}
        self.registrations: dict[str, Registration] = {}  # waiting for their session

    def __iter__(self) -> Iterator[Tracked]:
        return iter(list(self.sessions.values()))

    def admit(self, row: SessionRow) -> Tracked:
        """Track the stored session ``row`` (or refresh the row of one already tracked)."""
        known = self.sessions.get(row.id)
        if known is not None:
            known.row = row
            return known
        tracked = Tracked(row, row.status, row.pid, row.tmux_target)
        self.sessions[row.id] = tracked
        self._keys[row.key] = row.id
        return tracked

    def forget(self, t: Tracked) -> None:
        """Stop tracking ``t``."""
        self.exits.unwatch(t.row.id)
        self.sessions.pop(t.row.id, None)
        self._keys.pop(t.row.key, None)

    def by_key(self, key: str, *, load: bool = True) -> Tracked | None:
        """The tracked session with this key, loaded from the database when ``load``."""
        known = self._keys.get(key)
        if known is not None:
            return self.sessions[known]
        if not load:
            return None
        row = self.reader.by_key(key)
        return self.admit(row) if row is not None else None

    def parent_of(self, t: Tracked) -> Tracked | None:
        """The tracked parent of a subagent session."""
        return self.sessions.get(t.row.parent_id) if t.row.parent_id is not None else None

    def children_of(self, t: Tracked) -> list[Tracked]:
        """Tracked subagent sessions of ``t``."""
        return [c for c in self.sessions.values() if c.row.parent_id == t.row.id]

    def owner(self, identity: ProcessIdentity) -> Tracked | None:
        """The top-level session the process ``identity`` is attached to."""
        for t in self.sessions.values():
            if t.identity is not None and t.identity.matches(identity):
                return t
        return None

    def live(self) -> list[ProcessIdentity]:
        """Every attached process."""
        return [t.identity for t in self.sessions.values() if t.identity is not None]

    def process_of(self, t: Tracked) -> tuple[str, ProcessIdentity | None]:
        """(alive | exited | none, the process) of ``t``, a subagent's being its parent's."""
        if t.identity is not None:
            return "alive", t.identity
        parent = self.parent_of(t)
        if t.exited_at is None and parent is not None and parent.identity is not None:
            return "alive", parent.identity
        if t.exited_at is not None or t.ever_process:
            return "exited", t.last_identity
        return "none", None

    def attach(self, t: Tracked, identity: ProcessIdentity, source: str) -> bool:
        """Tie ``t`` to the live process ``identity``; False when a stronger tie stands."""
        if t.row.parent_id is not None:
            return False
        strength = STRENGTH[source]
        if t.identity is not None:
            if t.identity.matches(identity):
                if strength > STRENGTH.get(t.source or "", 0):
                    t.source = source
                return True
            if STRENGTH.get(t.source or "", 0) > strength:
                return False
        holder = self.owner(identity)
        if holder is not None and holder is not t:
            if STRENGTH.get(holder.source or "", 0) > strength:
                return False
            self.release(holder, superseded=True)
        self._bind(t, identity, source)
        return True

    def _bind(self, t: Tracked, identity: ProcessIdentity, source: str) -> None:
        if t.stored_status in TERMINAL or t.exited_at is not None or t.end_hook is not None:
            t.end_hook, t.superseded, t.stop_requested = None, False, False
        t.identity, t.source, t.ever_process, t.exited_at = identity, source, True, None
        t.lineage = ()
        self.exits.watch(t.row.id, identity)
        self._claim_registration(t, identity)
        _log.info("agent_attached", session=t.row.key, pid=identity.pid, source=source)

    def release(self, t: Tracked, *, superseded: bool = False) -> None:
        """Untie ``t`` from its process (the process lives on, elsewhere or not at all)."""
        if t.identity is None:
            return
        self.exits.unwatch(t.row.id)
        t.last_identity, t.identity = t.identity, None
        t.superseded = t.superseded or superseded

    def exited(self, session_id: int, now: float) -> Tracked | None:
        """Note that the process of ``session_id`` exited at ``now``."""
        t = self.sessions.get(session_id)
        if t is None or t.identity is None:
            return None
        t.last_identity, t.identity = t.identity, None
        t.exited_at, t.tail_dirty = now, True
        for child in self.children_of(t):
            if child.identity is None and child.exited_at is None:
                child.exited_at, child.tail_dirty = now, True
                child.last_identity = t.last_identity
        return t

    def _claim_registration(self, t: Tracked, identity: ProcessIdentity) -> None:
        for reg_id, reg in list(self.registrations.items()):
            if reg.identity.matches(identity):
                t.registration, t.fields_pending = reg, True
                t.stop_requested = t.stop_requested or reg.stop_requested
                del self.registrations[reg_id]
