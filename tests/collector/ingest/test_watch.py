"""Tests for collector.ingest.watch: the real watchdog observers on real files in tmp_path, no
sleeps.

Waiting is done by ``expect(predicate, timeout)``, which re-checks until a deadline, as
watchdog's own tests do. Every test must leave no thread behind (autouse fixture).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from watchdog import events
from watchdog.observers import Observer

import collector.ingest.watch as watch_module
from collector.ingest.discovery import Root
from collector.ingest.watch import Watcher
from collector.log import capture_logs

FAST = 0.05  # polling_interval for tests: the reconciler and forced polling tick this often


def expect(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        tick.wait(0.01)


class Recorder:
    """Collects on_dirty paths and appeared roots from watchdog threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: list[str] = []
        self.appeared: list[Root] = []

    def dirty(self, path: str) -> None:
        with self._lock:
            self._paths.append(path)

    def root_appeared(self, root: Root) -> None:
        with self._lock:
            self.appeared.append(root)

    def paths(self) -> set[str]:
        with self._lock:
            return set(self._paths)

    def saw(self, path: Path | str) -> Callable[[], bool]:
        return lambda: str(path) in self.paths()


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every watcher a test starts is closed and all its threads are gone afterwards."""
    before = set(threading.enumerate())
    yield
    expect(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        what=f"threads left: {set(threading.enumerate()) - before}",
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


WatcherFactory = Callable[..., Watcher]


@pytest.fixture
def make_watcher(recorder: Recorder) -> Iterator[WatcherFactory]:
    """Start Watchers wired to the recorder; all are closed at teardown."""
    made: list[Watcher] = []

    def make(*roots: Root, **kwargs: Any) -> Watcher:
        kwargs.setdefault("polling_interval", FAST)
        watcher = Watcher(list(roots), recorder.dirty, recorder.root_appeared, **kwargs)
        made.append(watcher)
        watcher.start()
        return watcher

    yield make
    for watcher in made:
        watcher.close()


def append(path: Path, line: str = '{"n": 1}') -> None:
    with path.open("a") as f:
        f.write(line + "\n")


def inotify_masks() -> list[int]:
    """Kernel event masks of this process's inotify watches, from /proc/self/fdinfo."""
    masks = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for line in info.splitlines():
            if line.startswith("inotify wd:"):
                masks.append(int(line.split(" mask:")[1].split()[0], 16))
    return masks


class TestDirtyHandler:
    """Which watchdog events become on_dirty calls (pure mapping, no observer)."""

    @pytest.mark.parametrize(
        ("event", "paths"),
        [
            (events.FileModifiedEvent("/r/a.jsonl"), ["/r/a.jsonl"]),
            (events.FileCreatedEvent("/r/a.jsonl"), ["/r/a.jsonl"]),
            (events.FileClosedEvent("/r/a.jsonl"), ["/r/a.jsonl"]),
            (events.FileMovedEvent("/r/a.tmp", "/r/a.jsonl"), ["/r/a.tmp", "/r/a.jsonl"]),
            (events.FileMovedEvent("/r/a.jsonl", ""), ["/r/a.jsonl"]),
            (events.DirCreatedEvent("/r/new"), ["/r/new"]),
            (events.DirMovedEvent("/r/x", "/r/y"), ["/r/x", "/r/y"]),
            (events.FileModifiedEvent(b"/r/b.jsonl"), ["/r/b.jsonl"]),
            (events.FileDeletedEvent("/r/a.jsonl"), ["/r/a.jsonl"]),  # drained via its fd (R21)
            (events.DirDeletedEvent("/r/old"), []),
            (events.DirModifiedEvent("/r"), []),
            (events.FileOpenedEvent("/r/a.jsonl"), []),
            (events.FileClosedNoWriteEvent("/r/a.jsonl"), []),
            (events.FileAttribEvent("/r/a.jsonl"), []),
        ],
    )
    def test_event_to_dirty_paths(self, event: events.FileSystemEvent, paths: list[str]) -> None:
        """Content changes, deletions, both ends of moves and new folders are hints; the rest,
        opens, plain reads, attributes, folder mtimes, is noise."""
        got: list[str] = []
        watch_module._DirtyHandler(got.append).dispatch(event)
        assert got == paths

    def test_a_raising_on_dirty_is_counted_not_propagated(self) -> None:
        """An exception leaving dispatch() would kill watchdog's dispatcher thread."""

        def boom(path: str) -> None:
            raise ValueError(path)

        handler = watch_module._DirtyHandler(boom)
        with capture_logs() as logs:
            for _ in range(5):
                handler.dispatch(events.FileModifiedEvent("/r/a.jsonl"))
        assert handler.errors == 5
        assert "ValueError" in handler.last_error
        assert [e["count"] for e in logs if e["event"] == "watch_handler_failed"] == [1, 2, 4]


class TestNotifications:
    """Changes under a watched root reach on_dirty through the real inotify observer."""

    def test_append_marks_the_file_dirty(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        file = tmp_path / "p" / "s.jsonl"
        file.parent.mkdir()
        file.write_text("")
        watcher = make_watcher(Root("claude-code", str(tmp_path)))
        assert watcher.modes() == {str(tmp_path): "inotify"}
        append(file)
        expect(recorder.saw(file), what="append seen")

    def test_new_nested_folder_then_file(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        """The new folder is reported (the daemon rescans it), then files inside it are."""
        make_watcher(Root("claude-code", str(tmp_path)))
        folder = tmp_path / "proj" / "sess" / "subagents"
        folder.mkdir(parents=True)
        expect(recorder.saw(tmp_path / "proj"), what="new folder seen")
        expect(recorder.saw(folder), what="nested folder seen")
        file = folder / "agent-1.jsonl"
        append(file)
        expect(recorder.saw(file), what="file in new folder seen")

    def test_burst_of_mkdir_and_write_reports_the_file_or_a_folder_above(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        """Created before its folder's watch exists, the file may only be covered by a rescan
        of the reported folder; either way something at or above it is marked."""
        make_watcher(Root("codex", str(tmp_path)))
        file = tmp_path / "2026" / "01" / "02" / "rollout-x.jsonl"
        file.parent.mkdir(parents=True)
        append(file)
        covering = {str(file), *(str(p) for p in file.parents if p != tmp_path.parent)}
        expect(lambda: bool(recorder.paths() & covering), what="file or folder seen")
        append(file)
        expect(recorder.saw(file), what="later append seen")

    def test_rename_marks_both_ends(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        """Atomic replace (write temp, rename) and rotation both show up at both paths."""
        temp, final = tmp_path / "s.jsonl.tmp", tmp_path / "s.jsonl"
        temp.write_text("{}\n")
        make_watcher(Root("copilot", str(tmp_path)))
        temp.rename(final)
        expect(lambda: {str(temp), str(final)} <= recorder.paths(), what="both ends seen")

    def test_dispatcher_survives_a_raising_on_dirty(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        """The first call raises; later changes are still delivered and the failure is reported."""
        raised = threading.Event()

        def flaky(path: str) -> None:
            if not raised.is_set():
                raised.set()
                raise RuntimeError("consumer broke")
            recorder.dirty(path)

        watcher = Watcher([Root("gemini", str(tmp_path))], flaky, polling_interval=FAST)
        watcher.start()
        try:
            first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
            append(first)
            expect(raised.is_set, what="first call")
            append(second)
            expect(recorder.saw(second), what="delivery after the failure")
            assert any("consumer broke" in p for p in watcher.problems())
        finally:
            watcher.close()

    def test_kernel_mask_leaves_out_opens_and_reads(
        self, tmp_path: Path, make_watcher: WatcherFactory
    ) -> None:
        """Regression guard for the overflow loop (module docstring): with watchdog's default
        mask every opendir of a rescan queues IN_OPEN + IN_CLOSE_NOWRITE per folder."""
        (tmp_path / "a" / "b").mkdir(parents=True)
        make_watcher(Root("claude-code", str(tmp_path)))
        masks = inotify_masks()
        assert len(masks) >= 3  # root, a, a/b
        in_access, in_close_nowrite, in_open = 0x1, 0x10, 0x20
        assert all(m & (in_access | in_close_nowrite | in_open) == 0 for m in masks)


class TestRoots:
    """A missing root is waited for, not an error; vanished roots go back to waiting."""

    def test_root_created_after_start(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        """on_root_appeared comes after the watch exists, so a scan then misses nothing."""
        root = Root("codex", str(tmp_path / "codex" / "sessions"))
        watcher = make_watcher(root)
        assert watcher.modes() == {root.path: "waiting"}
        assert watcher.problems() == []
        Path(root.path).mkdir(parents=True)
        expect(lambda: recorder.appeared == [root], what="root appeared")
        assert watcher.modes() == {root.path: "inotify"}
        file = Path(root.path) / "rollout-1.jsonl"
        append(file)
        expect(recorder.saw(file), what="append in the new root")

    def test_root_deleted_waits_and_is_announced_again(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        root = Root("gemini", str(tmp_path / "tmp"))
        Path(root.path).mkdir()
        watcher = make_watcher(root)
        assert watcher.modes() == {root.path: "inotify"}
        shutil.rmtree(root.path)
        expect(lambda: watcher.modes() == {root.path: "waiting"}, what="back to waiting")
        Path(root.path).mkdir()
        expect(lambda: recorder.appeared == [root], what="announced again")
        file = Path(root.path) / "s.jsonl"
        append(file)
        expect(recorder.saw(file), what="append after re-creation")

    def test_failing_callback_does_not_stop_the_reconciler(
        self, tmp_path: Path, recorder: Recorder
    ) -> None:
        """A raising on_root_appeared is logged; the other root is still picked up."""
        first, second = Root("codex", str(tmp_path / "a")), Root("copilot", str(tmp_path / "b"))
        seen: list[Root] = []

        def appeared(root: Root) -> None:
            seen.append(root)
            raise RuntimeError("daemon busy")

        watcher = Watcher([first, second], recorder.dirty, appeared, polling_interval=FAST)
        watcher.start()
        try:
            Path(first.path).mkdir()
            expect(lambda: seen == [first], what="first announced")
            Path(second.path).mkdir()
            expect(lambda: seen == [first, second], what="second announced")
            assert watcher.modes() == {first.path: "inotify", second.path: "inotify"}
        finally:
            watcher.close()


class TestFallback:
    """When inotify cannot be had, the root is polled and the reason is reported."""

    def test_forced_polling_still_marks_appends(
        self, tmp_path: Path, make_watcher: WatcherFactory, recorder: Recorder
    ) -> None:
        file = tmp_path / "s.jsonl"
        file.write_text("")
        watcher = make_watcher(Root("claude-code", str(tmp_path)), force_polling=True)
        assert watcher.modes() == {str(tmp_path): "polling"}
        assert watcher.problems() == [f"{tmp_path}: polling, forced by force_polling=True"]
        append(file)
        expect(recorder.saw(file), what="polled append")
        new = tmp_path / "new" / "t.jsonl"
        new.parent.mkdir()
        append(new)
        expect(recorder.saw(new), what="polled new file")

    def test_watch_limit_at_schedule_falls_back_to_polling(
        self,
        tmp_path: Path,
        make_watcher: WatcherFactory,
        recorder: Recorder,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Simulated: schedule() raises OSError(ENOSPC) as watchdog does at the watch limit.
        Lowering the real fs.inotify.max_user_watches would starve every process of this
        user on the machine; the real limit is hit in a user namespace in TestRealLimits."""

        class Exhausted(Observer):  # type: ignore[misc, valid-type]
            def schedule(self, *args: Any, **kwargs: Any) -> Any:
                raise OSError(errno.ENOSPC, "inotify watch limit reached")

        monkeypatch.setattr(watch_module, "Observer", Exhausted)
        with capture_logs() as logs:
            watcher = make_watcher(Root("codex", str(tmp_path)))
        assert watcher.modes() == {str(tmp_path): "polling"}
        [fell_back] = [e for e in logs if e["event"] == "watch_fell_back_to_polling"]
        assert fell_back["root"] == str(tmp_path)
        assert fell_back["reason"] == "inotify watch limit reached"
        assert "max_user_watches" in fell_back["fix"]
        assert watcher.problems() == [f"{tmp_path}: polling, inotify watch limit reached"]
        file = tmp_path / "s.jsonl"
        append(file)
        expect(recorder.saw(file), what="polled append")

    def test_instance_limit_polls_every_root(
        self, tmp_path: Path, make_watcher: WatcherFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Simulated: inotify_init() fails with EMFILE when the observer is built."""

        def no_instances() -> None:
            raise OSError(errno.EMFILE, "inotify instance limit reached")

        monkeypatch.setattr(watch_module, "Observer", no_instances)
        roots = [Root("codex", str(tmp_path / "a")), Root("gemini", str(tmp_path / "b"))]
        for root in roots:
            Path(root.path).mkdir()
        watcher = make_watcher(*roots)
        assert watcher.modes() == {root.path: "polling" for root in roots}
        assert all("instance limit" in p for p in watcher.problems())

    def test_tree_too_big_for_the_event_queue_is_polled(
        self, tmp_path: Path, make_watcher: WatcherFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Simulated: count_dirs reports 20 000 folders (building them takes a while). Such a
        tree would send watchdog's overflow recovery into an endless loop."""
        monkeypatch.setattr(watch_module, "count_dirs", lambda path: 20_000)
        watcher = make_watcher(Root("claude-code", str(tmp_path)))
        assert watcher.modes() == {str(tmp_path): "polling"}
        [problem] = watcher.problems()
        assert "20000 directories" in problem
        assert not inotify_masks()  # nothing left watched natively


LIMIT_SCRIPT = """
import json, os, sys, threading
from collector.ingest.discovery import Root
from collector.ingest.watch import Watcher
from collector.log import capture_logs

root, watches, instances = sys.argv[1], sys.argv[2], sys.argv[3]
with open("/proc/sys/user/max_inotify_watches", "w") as f:
    f.write(watches)
with open("/proc/sys/user/max_inotify_instances", "w") as f:
    f.write(instances)
seen = threading.Event()
target = os.path.join(root, "a", "s.jsonl")
watcher = Watcher([Root("claude-code", root)], lambda p: p == target and seen.set(),
                  polling_interval=0.05)
watcher.start()
with open(target, "a") as f:
    f.write("{}\\n")
delivered = seen.wait(5)
print(json.dumps({"modes": watcher.modes(), "problems": watcher.problems(), "seen": delivered}))
watcher.close()
"""


def _user_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _user_namespaces_work(), reason="needs unshare -U (user namespaces)")
class TestRealLimits:
    """The kernel's own limits, hit for real inside a throw-away user namespace.

    /proc/sys/user/max_inotify_{watches,instances} are per user namespace, so a child process
    can lower them for itself without touching the machine-wide fs.inotify sysctls."""

    @pytest.mark.parametrize(
        ("watches", "instances", "problem"),
        [
            ("0", "128", "inotify watch limit reached"),  # ENOSPC on the root itself
            ("3", "128", "inotify watch limit reached"),  # below the root: raised or swallowed
            ("8192", "0", "inotify instance limit reached"),  # EMFILE from inotify_init
        ],
    )
    def test_limit_falls_back_to_polling(
        self, tmp_path: Path, watches: str, instances: str, problem: str
    ) -> None:
        result = run_with_limits(tmp_path, watches, instances)
        assert result["modes"] == {str(tmp_path): "polling"}
        [said] = result["problems"]
        # Whether watchdog raises ENOSPC for a folder below the root or swallows it (then our
        # coverage check counts "N of 6 directories watched") depends on its version and on
        # the order it walks the tree, not on us: either way the root is polled and the
        # reason named. Nothing here depends on watches held elsewhere on the machine.
        assert said.startswith(f"{tmp_path}: polling, {problem}")
        rest = said.removeprefix(f"{tmp_path}: polling, {problem}")
        assert rest == "" or re.fullmatch(r": [0-5] of 6 directories watched", rest), said
        assert result["seen"] is True

    def test_enough_watches_stays_on_inotify(self, tmp_path: Path) -> None:
        """The control case: room for exactly the six folders and one instance."""
        result = run_with_limits(tmp_path, "6", "1")
        assert result == {"modes": {str(tmp_path): "inotify"}, "problems": [], "seen": True}


def run_with_limits(tmp_path: Path, watches: str, instances: str) -> dict[str, Any]:
    """Run LIMIT_SCRIPT on a six-folder tree in a user namespace with these inotify limits."""
    for folder in ("a", "b/c", "d/e"):
        (tmp_path / folder).mkdir(parents=True)
    command = ["unshare", "-U", "-r", sys.executable, "-c", LIMIT_SCRIPT, str(tmp_path)]
    run = subprocess.run(
        [*command, watches, instances], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


class TestLifecycle:
    """start() once, close() any number of times, nothing left running."""

    def test_close_is_idempotent_and_joins_every_thread(self, tmp_path: Path) -> None:
        (tmp_path / "polled").mkdir()
        before = set(threading.enumerate())
        native = Watcher([Root("codex", str(tmp_path))], lambda p: None)
        polled = Watcher(
            [Root("codex", str(tmp_path / "polled"))], lambda p: None, force_polling=True
        )
        native.start()
        polled.start()
        assert set(threading.enumerate()) - before
        for watcher in (native, polled, native, polled):
            watcher.close()
        assert set(threading.enumerate()) == before
        assert native.modes() == {}
        assert not inotify_masks()

    def test_start_twice_or_after_close_raises(self, tmp_path: Path) -> None:
        watcher = Watcher([Root("codex", str(tmp_path))], lambda p: None)
        watcher.start()
        with pytest.raises(RuntimeError, match="started"):
            watcher.start()
        watcher.close()
        with pytest.raises(RuntimeError, match="closed"):
            watcher.start()

    def test_close_before_start_is_a_no_op(self, tmp_path: Path) -> None:
        watcher = Watcher([Root("codex", str(tmp_path))], lambda p: None)
        watcher.close()
        watcher.close()
        assert watcher.modes() == {}

    def test_close_from_on_root_appeared_does_not_deadlock(self, tmp_path: Path) -> None:
        """The daemon may shut down from inside the callback (it runs on the reconciler)."""
        root = Root("codex", str(tmp_path / "later"))
        closed = threading.Event()

        def close_now(_: Root) -> None:
            watcher.close()
            closed.set()

        watcher = Watcher([root], lambda p: None, close_now, polling_interval=FAST)
        watcher.start()
        Path(root.path).mkdir()
        expect(closed.is_set, what="closed from the callback")
        assert watcher.modes() == {}
