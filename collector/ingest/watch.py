"""Turn file-system notifications into "this path may have changed" hints, and nothing more.

The daemon's periodic rescan (``discovery.scan_root``) is the truth: a lost, coalesced or
overflowed notification may delay a line until the next rescan, never lose it. The handler only
calls ``on_dirty(path)``, from several watchdog threads at once (so it must be thread-safe and
quick); it never reads, blocks or raises, since a raise would kill watchdog's dispatcher thread.

Modes per root, from ``Watcher.modes()``:

- ``inotify`` / ``native``: one shared watchdog ``Observer`` (one inotify instance on Linux;
  FSEvents, kqueue or Windows elsewhere) watches the root recursively.
- ``polling``: the root's own ``PollingObserver`` (native one missing or refused, or forced). A
  snapshot stats every file, 265-620 ms for 20 000 files (31-45 % of a core at 1 s), so the
  interval is sized from the first snapshot to spend ``_POLL_CPU_BUDGET``: small trees keep ~1 s
  latency, 20 000 files are polled about once a minute, no worse than the rescan alone.
- ``waiting``: the root does not exist yet, which is not an error. The reconciler thread stats it
  every ``polling_interval``, watches it once it appears and only then calls ``on_root_appeared``,
  so the daemon's scan covers what came before the watch; vanished or replaced roots wait again.
  No inotify watch on the nearest ancestor instead: that is often ``$HOME``, churning all day.

Linux inotify (docs/service-conventions.md §5): one watch per directory against the per-user
``fs.inotify.max_user_watches``, instances against ``max_user_instances``. watchdog raises
``OSError`` ENOSPC / EMFILE: that root polls and the log names the sysctl. It *swallows* ENOSPC
below the root, so we compare the directories it watches with the tree. Past ``max_queued_events``
(16384) events are dropped and watchdog ≥ 7.1 removes and re-adds every watch: one ``IN_IGNORED``
per removal, and with the default mask ``IN_OPEN`` + ``IN_CLOSE_NOWRITE`` per ``opendir`` of the
re-walk, so recovery overflows again, forever. Measured on 10 101 directories: 97 % of a core
from ``schedule`` on with the default mask, 0 % with ``event_filter`` (opens leave the kernel mask;
safe since 7.0 fixed #990); on 20 201, 68 % after one overflow even so. Hence the filter, and
trees with more directories than 3/4 of the queue are polled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from watchdog import events
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver
from watchdog.utils.dirsnapshot import DirectorySnapshot
from watchdog.version import VERSION_INFO

from collector.ingest.discovery import Root, count_dirs
from collector.log import get_logger

__all__ = ["WatchMode", "Watcher"]

WatchMode = Literal["inotify", "native", "polling", "waiting"]

log = get_logger()

_DIRTY_EVENTS: tuple[type[events.FileSystemEvent], ...] = (
    *(events.FileCreatedEvent, events.FileModifiedEvent, events.FileMovedEvent),
    *(events.FileClosedEvent, events.DirCreatedEvent, events.DirMovedEvent),
    events.FileDeletedEvent,  # the reader drains the rest through its descriptor
)
# Before 7.0 a filter without creation events broke recursion into new directories (#990).
_EVENT_FILTER = list(_DIRTY_EVENTS) if VERSION_INFO >= (7, 0) else None
# Half of the 1 % of a core the collector may use while idle; the rescan takes about as much.
_POLL_CPU_BUDGET = 0.005
_JOIN_TIMEOUT = 5.0
_LIMIT_REASONS = {
    errno.ENOSPC: ("inotify watch limit reached", "sysctl fs.inotify.max_user_watches=524288"),
    errno.EMFILE: ("inotify instance limit reached", "sysctl fs.inotify.max_user_instances=512"),
}


class _Refused(Exception):
    """No native watch for this root (no inotify, a limit, a huge tree): poll it instead."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint

    @classmethod
    def from_os_error(cls, exc: OSError) -> _Refused:
        """Name the inotify limit behind ``exc`` and the sysctl that lifts it."""
        return cls(*_LIMIT_REASONS.get(exc.errno or 0, (repr(exc), None)))


@dataclass
class _RootState:
    """One root's watch. Changed only under ``Watcher._mutate``; fields read under ``_lock``."""

    root: Root
    mode: WatchMode = "waiting"
    observer: BaseObserver | None = None
    watch: ObservedWatch | None = None
    identity: tuple[int, int] | None = None
    poll_reason: str | None = None  # sticky: a refused root is not retried natively
    failures: int = 0  # consecutive failed activations of an existing root
    retry_at: float = 0.0
    last_failure: str = ""


class _DirtyHandler(events.FileSystemEventHandler):
    """Map watchdog events to ``on_dirty`` calls; anything raised is counted, never propagated."""

    def __init__(self, on_dirty: Callable[[str], None]) -> None:
        super().__init__()
        self._on_dirty = on_dirty
        self.errors, self.last_error = 0, ""  # written by dispatcher threads, read by problems()

    def dispatch(self, event: events.FileSystemEvent) -> None:
        """Runs on the dispatcher thread, where an escaping exception would end all watching."""
        try:
            if isinstance(event, _DIRTY_EVENTS):  # moves: both ends; new dirs: to be rescanned
                for path in (event.src_path, event.dest_path):
                    if path:
                        self._on_dirty(os.fsdecode(path))
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.errors, self.last_error = self.errors + 1, repr(exc)
                if self.errors & (self.errors - 1) == 0:  # 1st, 2nd, 4th...: storms cannot flood
                    log.error("watch_handler_failed", error=repr(exc), count=self.errors)


class Watcher:
    """Watch agent roots and report possibly changed paths; see the module docstring for modes."""

    def __init__(
        self,
        roots: Sequence[Root],
        on_dirty: Callable[[str], None],
        on_root_appeared: Callable[[Root], None] | None = None,
        force_polling: bool = False,
        polling_interval: float = 1.0,
    ) -> None:
        forced = "forced by force_polling=True" if force_polling else None
        self._states = [_RootState(root, poll_reason=forced) for root in roots]
        self._on_root_appeared = on_root_appeared
        self._interval = polling_interval
        self._handler = _DirtyHandler(on_dirty)
        self._lock = threading.Lock()  # short holds: lifecycle, fields read by modes()/problems()
        self._mutate = threading.Lock()  # held while observers are started or stopped
        self._lifecycle: Literal["unopened", "started", "closed"] = "unopened"
        self._closing = threading.Event()
        self._native: BaseObserver | None = None
        self._native_refused: _Refused | None = None
        self._reconciler: threading.Thread | None = None

    def start(self) -> None:
        """Watch every existing root now; missing ones are picked up by the reconciler thread."""
        with self._lock:
            if self._lifecycle != "unopened":
                raise RuntimeError(f"Watcher cannot start: it is {self._lifecycle}")
            self._lifecycle = "started"
        with self._mutate:
            for state in self._states:
                self._activate(state)
        self._reconciler = threading.Thread(
            target=self._reconcile_forever, name="watch-reconciler", daemon=True
        )
        self._reconciler.start()

    def close(self) -> None:
        """Stop watching and join every thread this Watcher started; safe to call again."""
        with self._lock:
            was_started = self._lifecycle == "started"
            self._lifecycle = "closed"
        if not was_started:
            return
        self._closing.set()
        with self._mutate:  # waits for an activation in progress, then nothing starts again
            for state in self._states:
                self._deactivate(state)
            if self._native is not None:
                _stop_observer(self._native)
                self._native = None
        if self._reconciler not in (None, threading.current_thread()):  # close() from a callback
            self._reconciler.join(_JOIN_TIMEOUT)

    def modes(self) -> dict[str, str]:
        """Mode per root path while started; empty before ``start()`` and after ``close()``."""
        with self._lock:
            if self._lifecycle != "started":
                return {}
            return {state.root.path: state.mode for state in self._states}

    def problems(self) -> list[str]:
        """Human-readable reasons this Watcher is degraded; empty when all is well."""
        with self._lock:
            found = []
            for s in self._states:
                if s.poll_reason:
                    found.append(f"{s.root.path}: polling, {s.poll_reason}")
                if s.failures:
                    found.append(f"{s.root.path}: failing ({s.failures}x), {s.last_failure}")
        if (handler := self._handler).errors:
            found.append(f"on_dirty raised {handler.errors}x, last {handler.last_error}")
        return found

    def _activate(self, state: _RootState) -> bool:
        """Start watching an existing root (under ``_mutate``); False when absent or failed.

        A failure is kept for ``problems()`` and retried with back-off rather than raised: one
        unreadable root must not stop the others from being watched.
        """
        identity = _identity(state.root.path)
        if identity is None:
            log.info("watch_deferred", root=state.root.path, reason="root does not exist yet")
            return False
        mode: WatchMode
        try:
            if state.poll_reason is None and self._watch_natively(state):
                mode = "inotify" if _is_inotify(state.observer) else "native"
            else:
                self._watch_by_polling(state)
                mode = "polling"
        except (FileNotFoundError, NotADirectoryError):  # vanished meanwhile: waiting again
            return False
        except Exception as exc:
            self._note_failure(state, exc)
            return False
        with self._lock:
            state.identity, state.mode, state.failures = identity, mode, 0
        log.info("watch_started", root=state.root.path, agent=state.root.agent, mode=mode)
        return True

    def _watch_natively(self, state: _RootState) -> bool:
        """Schedule on the shared native observer; False after recording why to poll instead."""
        path = state.root.path
        try:
            observer = self._native_observer()
            dirs = _check_inotify_budget(path) if _is_inotify(observer) else 0
            watch = observer.schedule(
                self._handler, path, recursive=True, event_filter=_EVENT_FILTER
            )
            _check_inotify_coverage(observer, watch, dirs, path)
        except (FileNotFoundError, NotADirectoryError):
            raise
        except OSError as exc:  # ENOSPC: not even one watch left for the root itself
            refused = _Refused.from_os_error(exc)
        except _Refused as exc:
            refused = exc
        else:
            state.observer, state.watch = observer, watch
            return True
        state.poll_reason = refused.reason
        log.warning(
            "watch_fell_back_to_polling", root=path, reason=refused.reason, fix=refused.hint
        )
        return False

    def _native_observer(self) -> BaseObserver:
        """The shared native observer, created on first use; raises _Refused when unavailable."""
        if self._native is not None:
            return self._native
        if self._native_refused is None and Observer is PollingObserver:
            self._native_refused = _Refused("no native file-system notifications on this platform")
        if self._native_refused is not None:
            raise self._native_refused
        try:
            observer = Observer()
        except OSError as exc:  # inotify_init: EMFILE at the instance limit, ENOSYS in sandboxes
            self._native_refused = _Refused.from_os_error(exc)
            raise self._native_refused from exc
        observer.name = "watch-native"
        observer.start()
        self._native = observer
        return observer

    def _watch_by_polling(self, state: _RootState) -> None:
        """Poll the root with its own observer, as often as its size makes affordable."""
        path = state.root.path
        interval = _poll_interval(path, self._interval)
        observer = PollingObserver(timeout=interval)
        observer.name = f"watch-poll:{path}"
        watch = observer.schedule(self._handler, path, recursive=True, event_filter=_EVENT_FILTER)
        observer.start()  # takes the first snapshot; if that raises, no thread was started
        state.observer, state.watch = observer, watch
        log.info("watch_poll_interval_chosen", root=path, interval_s=round(interval, 2))

    def _deactivate(self, state: _RootState) -> None:
        """Drop the root's watch (and its observer when it owns one); it is waiting again."""
        observer, watch = state.observer, state.watch
        with self._lock:
            state.observer = state.watch = state.identity = None
            state.mode = "waiting"
        if observer is None or watch is None:
            return
        if observer is self._native:
            with contextlib.suppress(KeyError):
                observer.unschedule(watch)
        else:
            _stop_observer(observer)

    def _reconcile_forever(self) -> None:
        """Promote roots that appeared, demote roots that vanished; never dies of one failure."""
        while not self._closing.wait(self._interval):
            for state in self._states:
                try:
                    with self._mutate:
                        if self._closing.is_set():
                            return
                        appeared = self._reconcile(state)
                    if appeared and self._on_root_appeared is not None:
                        self._on_root_appeared(state.root)  # outside _mutate: it may call close()
                except Exception as exc:
                    log.exception("watch_reconcile_failed", root=state.root.path, error=repr(exc))

    def _reconcile(self, state: _RootState) -> bool:
        """Check one root with one stat; True when it just appeared and is now watched."""
        identity = _identity(state.root.path)
        if identity == state.identity:
            return False
        if state.identity is None and time.monotonic() < state.retry_at:
            return False
        if state.identity is not None:
            log.info("watch_root_vanished", root=state.root.path, replaced=identity is not None)
            self._deactivate(state)
        if identity is None or not self._activate(state):
            return False
        log.info("watch_root_appeared", root=state.root.path, mode=state.mode)
        return True

    def _note_failure(self, state: _RootState, exc: Exception) -> None:
        """Keep the reason and back off (interval doubling, at most 5 min) before retrying."""
        with self._lock:
            state.failures += 1
            state.last_failure = repr(exc)
        delay = min(self._interval * 2**state.failures, 300.0)
        state.retry_at = time.monotonic() + delay
        log.warning("watch_failed", root=state.root.path, error=repr(exc), retry_in_s=delay)


def _identity(path: str) -> tuple[int, int] | None:
    """(dev, inode) of an existing directory, else None; a new inode means a replaced root."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(path) else None


def _is_inotify(observer: BaseObserver | None) -> bool:
    return type(observer).__name__ == "InotifyObserver"


def _check_inotify_budget(path: str) -> int:
    """Count the tree's directories; refuse trees whose overflow recovery would never end."""
    dirs = count_dirs(path)
    try:
        with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as f:
            queue_size = int(f.read())
    except (OSError, ValueError):
        queue_size = 16384
    if dirs * 4 > queue_size * 3:
        raise _Refused(
            f"{dirs} directories: watchdog's inotify overflow recovery would loop "
            f"(max_queued_events={queue_size})",
            f"sysctl fs.inotify.max_queued_events={max(dirs * 4, 65536)}",
        )
    return dirs


def _check_inotify_coverage(
    observer: BaseObserver, watch: ObservedWatch, dirs: int, path: str
) -> None:
    """Refuse a tree that watchdog watches only in part because the watch limit ran out.

    watchdog ignores ENOSPC below the root (``InotifyWatchGroup._add_callback``); only its private
    watch group knows, so if those internals change the check is skipped. A shortfall is confirmed
    by a second count, as directories deleted since the first would look unwatched.
    """
    watched = None
    for emitter in list(observer.emitters):
        if emitter.watch == watch:
            paths = getattr(getattr(emitter, "_inotify", None), "_active_callbacks_by_path", None)
            watched = len(paths) if isinstance(paths, dict) else None
    if watched is None or watched >= dirs or watched >= count_dirs(path):
        return
    with contextlib.suppress(KeyError):
        observer.unschedule(watch)  # give the watches back to the user's other tools
    reason, hint = _LIMIT_REASONS[errno.ENOSPC]
    raise _Refused(f"{reason}: {watched} of {dirs} directories watched", hint)


def _poll_interval(path: str, floor: float) -> float:
    """Seconds between snapshots so that polling ``path`` spends at most the CPU budget."""
    started = time.thread_time()  # CPU, not wall time: a busy machine must not inflate it
    DirectorySnapshot(path, recursive=True)
    return max(floor, (time.thread_time() - started) / _POLL_CPU_BUDGET)


def _stop_observer(observer: BaseObserver) -> None:
    """Stop an observer and join its threads (its emitters are joined by ``stop()`` itself)."""
    observer.stop()
    if observer.is_alive():
        observer.join(_JOIN_TIMEOUT)
        if observer.is_alive():
            log.error("watch_thread_join_timed_out", thread=observer.name)
