"""Where renamed transcripts resume: a file keeps its identity across a rename in a root.

A file's identity is its device and inode plus the head and marker fingerprints of its
checkpoint (collector.ingest.tail). When a path never seen before turns out to be a known file
under a new name, it resumes at the old position and in the old session, whichever path the
watcher or the rescan happened to report first: the old path may already be retired (then
its position waits here, by identity), or still parked with its path gone (then it is taken
from the parked files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.parked import SavedFile
from store.records import FileUpdate

__all__ = ["Identity", "MovedFiles", "ParkedInodes", "names"]

Identity = tuple[int, int]  # (st_dev, st_ino)
_MOVED_MAX = 1024  # retired positions kept for a renamed file to resume from
_FILTER_BITS = 1 << 19  # 64 KiB: under 1 % false hits with 20,000 parked files


class ParkedInodes:
    """Which inodes parked files may have: a Bloom filter, so a new path whose inode no
    parked file has (nearly every new transcript, and every file of a first backfill) is
    told so at once instead of by a look through every parked file. Bits are never cleared
    one by one: once far more inodes were added than files are parked, it is rebuilt."""

    __slots__ = ("_added", "_bits")

    def __init__(self) -> None:
        self._bits = bytearray(_FILTER_BITS // 8)
        self._added = 0

    def add(self, inode: int) -> None:
        """Note that a parked file has ``inode``."""
        for bit in _bits_of(inode):
            self._bits[bit >> 3] |= 1 << (bit & 7)
        self._added += 1

    def may_hold(self, inode: int) -> bool:
        """False when no parked file noted since the last rebuild has ``inode``."""
        return all(self._bits[bit >> 3] & (1 << (bit & 7)) for bit in _bits_of(inode))

    def note(self, saved: SavedFile, parked: Mapping[str, SavedFile]) -> None:
        """``saved`` was parked; rebuild from ``parked`` (all parked files) when stale."""
        position = saved.position()
        if position is not None:
            self.add(position[1])
        if self._added > 4 * max(len(parked), 4096):
            self._bits = bytearray(_FILTER_BITS // 8)
            self._added = 0
            for item in parked.values():
                position = item.position()
                if position is not None:
                    self.add(position[1])


def _bits_of(inode: int) -> tuple[int, int]:
    mixed = (inode * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return inode % _FILTER_BITS, (mixed >> 40) % _FILTER_BITS


class MovedFiles:
    """Retired files by identity, most recent last; bounded, the oldest dropped."""

    __slots__ = ("_moved", "parked")

    def __init__(
        self, start: Mapping[Identity, SavedFile] | None, parked: Mapping[str, SavedFile]
    ) -> None:
        self._moved: dict[Identity, SavedFile] = dict(start or {})
        self.parked = ParkedInodes()  # the reader notes each file it parks
        for saved in parked.values():
            self.parked.note(saved, parked)

    def remember(self, saved: SavedFile) -> None:
        """Where a retired path stopped, and in which session: if it was renamed (not
        unlinked) a path with its identity resumes there. A reused inode is harmless: its head
        and marker then fail ``same_file``."""
        cp = saved.checkpoint
        if cp is None:
            return
        self._moved[(cp.dev, cp.inode)] = saved
        while len(self._moved) > _MOVED_MAX:
            del self._moved[next(iter(self._moved))]

    def take(
        self,
        path: str,
        key: Identity,
        parked: MutableMapping[str, SavedFile],
        session_of: Callable[[str], str | None],
    ) -> tuple[SavedFile | None, str | None]:
        """The retired or parked twin of the file at ``path`` (identity ``key``), removed from
        where it was, and the parked path it was taken from (to retire). The parked files are
        looked through one by one, only when the filter says one may have its inode."""
        found = self._moved.pop(key, None)
        if found is not None or not self.parked.may_hold(key[1]):
            return found, None
        for old, saved in parked.items():
            position = saved.position()
            if position is None or position[:2] != key or old == path or names(old, key):
                continue
            del parked[old]
            session = saved.session_key or session_of(old)
            return SavedFile(saved.checkpoint, saved.parser_state, session_key=session), old
        return None, None


def names(path: str, key: Identity) -> bool:
    """Does ``path`` still name the file with identity ``key`` (a hard link, not a rename)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == key


def retirement(path: str, agent: str, cp: Checkpoint) -> FileUpdate:
    """The ``files`` row update that retires a renamed file's old path at its position."""
    return FileUpdate(path=path, agent=agent, session_key=None, checkpoint=cp.to_dict(),
                      parser_state=None, size=cp.offset, deleted=True)  # fmt: skip
