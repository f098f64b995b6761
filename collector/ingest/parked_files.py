"""The parked files by path, most of them in one flat buffer rather than two objects each.

An idle daemon parks every quiet transcript (collector.ingest.parked): at 20,000 files their
``SavedFile`` objects and 96-byte checkpoints were 20,000 small objects each (3.9 MB, bench/
bench_idle.py --heap), and worse, the ones parked during a backfill were allocated between the
backfill's short-lived objects, so they kept the interpreter's small-object arenas from being
given back (an idle daemon right after a backfill held ~10 MB more than the same daemon
restarted). A file whose state is ``IN_STORE`` (or none) is kept as its 97-byte
``SavedFile.record()`` in one ``bytearray`` (memory outside those arenas), found through a
``path → slot`` dict, its session (when it has one of its own: rows read at start-up, until a
scan finds it is the one its path names; a renamed file) beside; any other (a state still
packed in memory while its chunks are uncommitted) stays a ``SavedFile`` as it was given.

``ParkedFiles`` is the ``MutableMapping`` the reader used a dict for; reading an entry builds a
``SavedFile`` (equal, not the same object, for a record). Thread-safe, each call whole: the
reader thread parks and wakes files while a scan (the daemon's main thread) re-keys them and
notifications look them up, and unlike a dict's, these operations take several steps.
"""

from __future__ import annotations

import threading
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping, ValuesView

from collector.ingest.parked import RECORD_BYTES, SavedFile

__all__ = ["ParkedFiles"]

_SLOT_BURST = 1024  # slot numbers made at a time (see _new_slot)


class ParkedFiles(MutableMapping[str, SavedFile]):
    """Parked files' ``SavedFile`` by path: records in a flat buffer, the rest as objects."""

    __slots__ = ("_data", "_free", "_lock", "_numbers", "_other", "_peaks", "_sessions", "_slots")

    def __init__(self, items: Mapping[str, SavedFile] | None = None) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, int] = {}
        self._data = bytearray()
        self._free: list[int] = []  # slots of records deleted, reused first
        # Slot numbers as int objects made in bursts: made one by one during a backfill they
        # would be scattered among its short-lived objects, as the SavedFiles were.
        self._numbers: list[int] = []
        self._sessions: dict[str, str] = {}  # path → session of a record that has its own
        self._other: dict[str, SavedFile] = {}
        self._peaks = [0, 0]  # the largest len(_sessions), len(_other) since last rebuilt
        for path, saved in (items or {}).items():
            self[path] = saved

    def __getitem__(self, path: str) -> SavedFile:
        with self._lock:
            return self._get(path)

    def __setitem__(self, path: str, saved: SavedFile) -> None:
        with self._lock:
            self._set(path, saved)

    def __delitem__(self, path: str) -> None:
        with self._lock:
            if not self._discard(path):
                raise KeyError(path)

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return path in self._slots or path in self._other

    def __iter__(self) -> Iterator[str]:
        with self._lock:  # a copy: callers delete while looking (renames.take)
            paths = [*self._slots, *self._other]
        return iter(paths)

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots) + len(self._other)

    def items(self) -> ItemsView[str, SavedFile]:
        """The entries of the paths parked when the iteration began that still are: one
        ``SavedFile`` at a time (all 20,000 at once would be a start-up's peak)."""
        return _Items(self)

    def values(self) -> ValuesView[SavedFile]:
        """As ``items``."""
        return _Values(self)

    def _get(self, path: str) -> SavedFile:
        slot = self._slots.get(path)
        if slot is None:
            return self._other[path]
        at = slot * RECORD_BYTES  # a copy of the record: no view may pin the buffer's size
        return SavedFile.from_record(self._data[at : at + RECORD_BYTES], self._sessions.get(path))

    def _set(self, path: str, saved: SavedFile) -> None:
        self._discard(path)  # the new key string replaces the old one (one copy of each path)
        record = saved.record()
        if record is None:
            self._other[path] = saved
            self._peaks[1] = max(self._peaks[1], len(self._other))
            return
        slot = self._free.pop() if self._free else self._new_slot()
        at = slot * RECORD_BYTES
        self._data[at : at + RECORD_BYTES] = record
        self._slots[path] = slot
        if saved.session_key is not None:
            self._sessions[path] = saved.session_key
            self._peaks[0] = max(self._peaks[0], len(self._sessions))

    def rekey(self, path: str, session_id: str | None) -> SavedFile | None:
        """The entry of ``path``, now kept under this string (a scan's: one copy of each path,
        not a second one from the ``files`` table) and without a session of its own when that
        is ``session_id``, the one its path names (the usual case); None when not parked."""
        with self._lock:
            return self._rekey(path, session_id)

    def _rekey(self, path: str, session_id: str | None) -> SavedFile | None:
        session = self._sessions.get(path)
        if session is not None:  # a row read at start-up: its key is the row's string
            slot = self._slots.pop(path)
            self._slots[path] = slot
            if session == session_id:
                del self._sessions[path]
                self._compact_after_start_up()
        if path in self._slots:
            return self._get(path)
        saved = self._other.get(path)
        if saved is None:
            return None
        if saved.session_key == session_id:
            saved = saved.without_session()
        self._set(path, saved)
        return saved

    def _discard(self, path: str) -> bool:
        slot = self._slots.pop(path, None)
        if slot is not None:
            self._free.append(slot)
            if self._sessions.pop(path, None) is not None:
                self._compact_after_start_up()
            return True
        if self._other.pop(path, None) is None:
            return False
        if len(self._other) * 4 < self._peaks[1]:  # a dict never shrinks as it empties
            self._peaks[1] = len(self._other)
            self._other = dict(self._other)
        return True

    def _compact_after_start_up(self) -> None:
        """Once most rows read at start-up were seen by a scan: their sessions' dict, and the
        slots' (each such path taken out and put back under the scan's string leaves a
        table twice the size it needs), built again at their size."""
        if len(self._sessions) * 4 >= self._peaks[0]:
            return
        self._peaks[0] = len(self._sessions)
        self._sessions = dict(self._sessions)
        self._slots = dict(self._slots.items())  # pairs, not dict(d): that copies the table

    def _new_slot(self) -> int:
        used = len(self._data) // RECORD_BYTES
        if used == len(self._numbers):
            self._numbers.extend(range(used, used + _SLOT_BURST))
        self._data.extend(bytes(RECORD_BYTES))
        return self._numbers[used]


class _Items(ItemsView[str, SavedFile]):
    _mapping: ParkedFiles

    def __iter__(self) -> Iterator[tuple[str, SavedFile]]:
        for path in self._mapping:
            saved = self._mapping.get(path)
            if saved is not None:  # not taken by another thread since the iteration began
                yield path, saved


class _Values(ValuesView[SavedFile]):
    _mapping: ParkedFiles

    def __iter__(self) -> Iterator[SavedFile]:
        for _path, saved in _Items(self._mapping):
            yield saved
