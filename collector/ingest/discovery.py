"""Find every transcript under an agent's root: the periodic rescan that is the truth.

Notifications (``watch.py``) only mark paths dirty and can be lost: inotify drops events when
its queue overflows (``fs.inotify.max_queued_events``), coalesces repeats, and misses trees
moved in. The daemon therefore walks each root on an interval and compares ``size`` with the
committed offset; this module is that walk.

Facts the walk relies on:

- ``os.scandir`` yields ``d_type`` from ``getdents``, so telling files from directories costs no
  ``stat``; only files that ``classify`` accepts are ``lstat``-ed (one syscall each).
- Symlinks inside a root are never followed, neither to directories (no loops) nor to files. That
  is also what the watcher does (watchdog ``follow_symlink=False``), so the scan and the
  notifications agree on which files exist. The root itself may be a symlink.
- Folders vanish mid-walk (agents delete sessions, users prune projects) and some may be
  unreadable. Every such ``OSError`` is counted in :class:`ScanStats` and skipped: a failed
  branch must never abort the walk of the others, nor be mistaken for "files deleted".
- Each directory listing is read whole and closed before anything is yielded, so a slow consumer
  holds no directory descriptors open.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

import msgspec

from collector.parsers.sources import SourceFile, classify

__all__ = [
    "FoundFile", "Root", "ScanRounds", "ScanStats", "count_dirs", "found_file", "scan_root",
]  # fmt: skip

# classify() accepts nothing else; checking the suffix first skips its work for junk.
_CANDIDATE_SUFFIXES = (".jsonl", ".json")

# A path's class never changes, so a rescan reuses the classification of the transcripts the
# caller already tracks (``known``: no second copy of 20,000 paths); classify() then sees only
# new files and the few non-transcripts beside them (sidecars), remembered by this small memo.
# (It took ~17 µs a path through PurePath, ~3.5 µs now; 1,024 entries hold ~0.2 MB where 4,096
# held 0.8 MB of an idle daemon, bench/bench_idle.py --heap.)
_classify = functools.lru_cache(maxsize=1024)(classify)


class Root(msgspec.Struct, frozen=True):
    """A directory holding one agent's transcripts, e.g. ``Root("codex", "~/.codex/sessions")``."""

    agent: str
    path: str


class FoundFile(msgspec.Struct, frozen=True):
    """A transcript seen by a scan, with the facts the tailer compares against its offsets."""

    source: SourceFile
    size: int
    mtime_ns: int
    dev: int
    inode: int


class ScanStats(msgspec.Struct):
    """What one walk saw; errors are counted rather than raised so one bad folder costs nothing."""

    dirs: int = 0
    files: int = 0
    matched: int = 0
    errors: int = 0
    last_error: str | None = None

    def record_error(self, exc: OSError) -> None:
        """Count a skipped entry and keep the latest reason for status output."""
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"


def scan_root(
    agent: str,
    root: str,
    stats: ScanStats | None = None,
    *,
    start: str | None = None,
    known: Mapping[str, SourceFile] | None = None,
    look: Callable[[str], bool] | None = None,
    unlooked: set[str] | None = None,
) -> Iterator[FoundFile]:
    """Yield each file under ``root`` that ``classify`` accepts for ``agent``; never raises OSError.

    A missing root yields nothing (it is "waiting", not an error). Pass ``stats`` to learn how
    many directories, files and skipped errors the walk met, ``start`` (a folder inside
    ``root``) to walk only that subtree while classifying against the real root, and ``known``
    (path → source of transcripts already classified under this root) to skip classifying them.
    With ``look``, a known transcript for which it returns False is not stat'ed: its path goes
    into ``unlooked`` (it exists; whether it grew is left to the next round).
    """
    counts = stats if stats is not None else ScanStats()
    memo = known if known is not None else {}
    pending = [start or root]
    while pending:
        directory = pending.pop()
        for entry in _list_dir(directory, pending, counts, is_root=directory == root):
            path = entry.path
            source = memo.get(path)
            if source is not None and source.agent != agent:
                source = None
            if source is not None and look is not None and not look(path):
                if unlooked is not None:
                    unlooked.add(path)
                counts.matched += 1
                continue
            found = _found(agent, root, entry, counts, source)
            if found is not None:
                yield found


def _list_dir(
    directory: str, pending: list[str], stats: ScanStats, *, is_root: bool
) -> list[os.DirEntry[str]]:
    """Queue the subdirectories of one directory and return its candidate files.

    The listing is read whole and closed here, before the caller yields anything. A directory
    that vanished or cannot be read contributes nothing.
    """
    candidates: list[os.DirEntry[str]] = []
    try:
        with os.scandir(directory) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):  # symlinks, fifos... are skipped
                    stats.files += 1
                    if entry.name.endswith(_CANDIDATE_SUFFIXES):
                        candidates.append(entry)
    except FileNotFoundError as exc:
        if not is_root:  # a missing root is the normal "not created yet" state
            stats.record_error(exc)
        return candidates
    except OSError as exc:  # unreadable, or the listing broke off (EIO, ESTALE)
        stats.record_error(exc)
        return candidates
    stats.dirs += 1
    return candidates


def _found(
    agent: str,
    root: str,
    entry: os.DirEntry[str],
    stats: ScanStats,
    source: SourceFile | None,
) -> FoundFile | None:
    """Stat one candidate, classifying it unless its ``source`` is known; None when it is not
    a transcript or is already gone."""
    if source is None:
        source = _classify(agent, root, entry.path)
    if source is None:
        return None
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:  # deleted between listing and stat
        stats.record_error(exc)
        return None
    stats.matched += 1
    return FoundFile(
        source=source, size=st.st_size, mtime_ns=st.st_mtime_ns, dev=st.st_dev, inode=st.st_ino
    )


def found_file(agent: str, root: str, path: str) -> FoundFile | None:
    """One path a notification named: a ``FoundFile`` if it is a live transcript, else None."""
    source = _classify(agent, root, path)
    if source is None:
        return None
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):  # a symlink, FIFO or device is never a transcript
        return None
    return FoundFile(source, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


class ScanRounds:
    """Which known transcripts a periodic rescan stats.

    Every round lists every folder (so new and vanished files are always seen) and stats the
    *warm* files — changed in the last ``warm_seconds`` by their mtime or by a notification —
    but only one in ``rounds`` of the quiet rest, a different share each round: a stat is most
    of the ~8 µs a file costs a rescan, and 20,000 of them a minute were most of an idle
    daemon's CPU (bench/bench_idle.py). A quiet file whose notification was lost is still
    seen within ``rounds`` intervals. Thread-safe: notifications arrive on watchdog's threads.
    """

    def __init__(self, rounds: int = 10, warm_seconds: float = 900.0) -> None:
        self.rounds = rounds
        self.warm_seconds = warm_seconds
        self._round = 0
        self._warm: dict[str, float] = {}  # path → wall time of its last known change
        self._lock = threading.Lock()

    def changed(self, path: str, when: float) -> None:
        """``path`` changed at wall time ``when`` (a notification, or an mtime a stat saw)."""
        if when > self._warm.get(path, 0.0):
            with self._lock:
                self._warm[path] = when

    def saw(self, found: Iterable[FoundFile], now: float) -> None:
        """A stat'ing scan's results at wall time ``now``: recently modified files are warm."""
        horizon = now - self.warm_seconds
        for item in found:
            if item.mtime_ns / 1e9 >= horizon:
                self.changed(item.source.path, item.mtime_ns / 1e9)

    def next_round(self, now: float, full: bool = False) -> Callable[[str], bool] | None:
        """The ``look`` predicate of the next round, or None when it must stat everything
        (``full``, or every ``rounds``-th round)."""
        with self._lock:
            horizon = now - self.warm_seconds
            self._warm = {p: t for p, t in self._warm.items() if t >= horizon}
            warm = set(self._warm)
        self._round += 1
        if full or self._round % self.rounds == 0:
            return None
        rounds, turn = self.rounds, self._round % self.rounds
        return lambda path: path in warm or hash(path) % rounds == turn


def count_dirs(root: str) -> int:
    """Directories under ``root``, itself included, symlinks not followed; 0 when it is missing.

    Linux inotify needs one watch per directory, so this is what watching ``root`` costs against
    ``fs.inotify.max_user_watches`` and, after a queue overflow, in ``IN_IGNORED`` events.
    """
    count, pending = 0, [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                pending.extend(e.path for e in listing if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
        count += 1
    return count
