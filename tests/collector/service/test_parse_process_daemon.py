"""The daemon with its parse process, as users run it: a real daemon subprocess, its real child,
real signals. The store must not depend on where a line was parsed, and the child must never
outlive the daemon or turn a clean stop into a failure.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

from collector.ingest.parse_child import CHILD_NAME
from tests.collector.service.daemon_harness import FIXTURES, Instance, expect
from tests.collector.service.fixture_home import lay_out

CHILD = b"collector.ingest.parse_child"  # a spawned child's command; a forked one's name:


def _dump(instance: Instance) -> dict[str, Any]:
    """Every stored fact that parsing decides (row ids and insert times left out; paths
    relative to the instance's HOME)."""
    q, home = instance.query, str(instance.home)
    events = [r[1] for r in q("PRAGMA table_info(events)", strict=True)]
    kept = ", ".join(f"e.{c}" for c in events if c not in ("id", "session_id", "created_at"))
    sessions = [r[1] for r in q("PRAGMA table_info(sessions)", strict=True)]
    skip = ("id", "created_at", "updated_at", "parent_session_id")
    facts = ", ".join(c for c in sessions if c not in skip)
    queries = {
        "events": f"SELECT s.session_key, {kept} FROM events e "
        "JOIN sessions s ON s.id = e.session_id",
        "sessions": f"SELECT {facts} FROM sessions",
        "files": "SELECT path, offset, parser_state FROM files",
        "problems": "SELECT file_path, offset, reason FROM parse_problems",
    }
    return {key: sorted(repr(row).replace(home, "~") for row in q(sql, strict=True))
            for key, sql in queries.items()}  # fmt: skip


def _once(tmp: Path, name: str, mode: str) -> tuple[dict[str, Any], str]:
    instance = Instance(tmp / name, collector__parse_process=f'"{mode}"',
                        collector__read_chunk_bytes=65536)  # fmt: skip
    lay_out(instance)
    done = instance.run("run", "--once", timeout=120)
    assert done.returncode == 0, done.stderr
    return _dump(instance), done.stderr


def _children(pid: int) -> list[int]:
    """The parse processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and (CHILD in cmdline or f"({CHILD_NAME})" in stat):
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _backlog(instance: Instance, copies: int) -> int:
    """``copies`` sessions made from the largest Claude fixture: several reads each."""
    data = (FIXTURES / "claude" / "codemie-session-624a4a58-compaction.jsonl").read_bytes()
    folder = instance.claude / "-proj-backlog"
    folder.mkdir(parents=True)
    for n in range(copies):  # each its own responses: no copy is a replay of another
        copy = data.replace(b"msg_bdrk_", b"msg_bdrk_%03d" % n)
        (folder / f"00000000-0000-4000-8000-{n:012d}.jsonl").write_bytes(copy)
    return sum(p.stat().st_size for p in folder.iterdir())


def _past(instance: Instance, committed: int, total: int) -> bool:
    """More than ``committed`` bytes are committed now (or all of them)."""
    now = _committed(instance)
    return now > committed or now == total


def _committed(instance: Instance) -> int:
    rows = instance.query("SELECT coalesce(sum(offset), 0) FROM files")
    return int(rows[0][0]) if rows else 0


def test_run_once_stores_the_same_with_and_without_the_child(tmp_path: Path) -> None:
    """All four agents' fixtures, read in 64 KiB steps: every event, session fact, file
    state and problem as when the daemon parses everything itself."""
    on, on_log = _once(tmp_path, "on", "on")
    off, _ = _once(tmp_path, "off", "off")
    assert "parse_process_failed" not in on_log
    for key in ("events", "sessions", "files", "problems"):
        assert on[key] == off[key], key
    assert len(on["events"]) > 3000


def test_sigkill_mid_backlog_loses_nothing_and_leaves_no_child(tmp_path: Path) -> None:
    """The daemon is SIGKILLed three times while its child parses a backlog: each time the
    child ends (its pipes closed), and the last run stores what one clean run stores."""
    instance = Instance(tmp_path / "killed", collector__parse_process='"on"')
    total = _backlog(instance, 40)
    rng = random.Random(7)
    for _ in range(3):
        proc = instance.start()
        children = expect(partial(_children, proc.pid), timeout=30)
        for _ in range(1 + rng.randrange(3)):  # a few commits of this run, at random
            expect(partial(_past, instance, _committed(instance), total), timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for child in children:
            expect(partial(_gone, child), timeout=10)
    assert _committed(instance) < total  # the kills did land mid-backlog
    proc = instance.start()
    expect(lambda: _committed(instance) == total, timeout=60)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    clean = Instance(tmp_path / "clean", collector__parse_process='"off"')
    _backlog(clean, 40)
    assert clean.run("run", "--once", timeout=120).returncode == 0
    assert _dump(instance) == _dump(clean)
    assert instance.query("SELECT count(*) FROM parse_problems")[0][0] == 0


def test_sigterm_to_the_whole_group_is_a_clean_stop(tmp_path: Path) -> None:
    """A service manager stops the daemon by signalling its whole group, child included:
    the child waits for its pipes to close, the daemon stops cleanly and says nothing of a
    failed parse process."""
    instance = Instance(tmp_path / "group", collector__parse_process='"on"')
    total = _backlog(instance, 40)
    log = (instance.home / "group.log").open("wb")
    proc = subprocess.Popen(instance.command("run"), env=instance.env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    log.close()
    try:
        children = expect(lambda: _children(proc.pid), timeout=30)
        expect(lambda: 0 < _committed(instance) < total, timeout=30)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for child in children:
        expect(partial(_gone, child), timeout=10)
    text = (instance.home / "group.log").read_text(errors="replace")
    assert "daemon_stopped" in text
    assert "parse_process_failed" not in text
