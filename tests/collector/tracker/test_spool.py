"""The spool and the registration API, on real files and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.hooks.registration import mark_stopped, register
from collector.tracker.model import HookEvent, Registration, StopNotice, parse_spooled
from collector.tracker.spool import read_records, remove, write_record
from config.errors import RegistrationError
from config.paths import spool_dir


class TestSpool:
    """One file per record, renamed into place, read in arrival order."""

    def test_records_round_trip_in_order(self, tmp_path: Path) -> None:
        """Written records come back in the order written, with the version stamped."""
        folder = spool_dir(tmp_path / "events.db")
        assert folder == tmp_path / "spool"
        first = write_record(folder, {"kind": "stop", "ts": 1.0, "pid": 5})
        second = write_record(folder, {"kind": "stop", "ts": 2.0, "pid": 6}, durable=True)
        records = read_records(folder)
        assert [p for p, _ in records] == [first, second]
        assert [d["pid"] for _, d in records if d] == [5, 6]
        assert all(d and d["v"] == 1 for _, d in records)
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        assert oct(first.stat().st_mode & 0o777) == "0o600"
        remove(first)
        remove(first)  # twice is fine
        assert [p for p, _ in read_records(folder)] == [second]

    def test_half_written_and_foreign_files(self, tmp_path: Path) -> None:
        """A dot-file is a write in progress (dropped once stale); garbage reads as None."""
        folder = tmp_path / "spool"
        folder.mkdir()
        temp = folder / ".123.json.tmp"
        temp.write_text("{")
        (folder / "notes.txt").write_text("x")
        (folder / "9-bad.json").write_text("{not json")
        assert read_records(folder) == [(folder / "9-bad.json", None)]
        assert temp.exists()
        old = time.time() - 7200
        os.utime(temp, (old, old))
        read_records(folder)
        assert not temp.exists()
        assert read_records(tmp_path / "absent") == []

    def test_parse_spooled(self, tmp_path: Path) -> None:
        """Each kind parses; malformed records are None."""
        path = tmp_path / "r.json"
        ident = {"pid": 10, "started_at": 5.0, "start_ticks": 7, "boot_id": "b"}
        hook = parse_spooled(path, {"kind": "hook", "ts": 1.0, "event": "Stop",
                                    "session_id": "s", "identity": ident})  # fmt: skip
        assert isinstance(hook, HookEvent)
        assert hook.identity is not None
        assert hook.identity.start_ticks == 7
        reg = parse_spooled(path, {"kind": "register", "ts": 1.0, "id": "x", "identity": ident})
        assert isinstance(reg, Registration)
        stop = parse_spooled(path, {"kind": "stop", "ts": 1.0, "pid": 10, "identity": None})
        assert isinstance(stop, StopNotice)
        for bad in ({"kind": "hook", "ts": 1.0, "event": "Stop"}, {"kind": "hook"},
                    {"kind": "register", "ts": 1.0, "id": "x"}, {"kind": "stop", "ts": 1.0},
                    {"kind": "other", "ts": 1.0}):  # fmt: skip
            assert parse_spooled(path, bad) is None


class TestRegistrationApi:
    """``register()`` and ``mark_stopped()`` write what the tracker needs."""

    def test_register_records_identity_and_fields(self, tmp_path: Path) -> None:
        """The pid's identity is read now; project_dir defaults to the process's cwd."""
        database = tmp_path / "db" / "events.db"
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 cwd=tmp_path)  # fmt: skip
        try:
            reg_id = register(child.pid, task_file="task.md", spawned_by="me",
                              importance="high", database=database)  # fmt: skip
            [(path, data)] = read_records(spool_dir(database))
            record = parse_spooled(path, data or {})
            assert isinstance(record, Registration)
            assert record.reg_id == reg_id
            assert record.identity.pid == child.pid
            assert record.project_dir == str(tmp_path)
            assert record.task_file == os.path.abspath("task.md")
            assert (record.spawned_by, record.importance) == ("me", "high")
        finally:
            child.kill()
            child.wait(10)

    def test_register_refuses_a_dead_pid_and_a_bad_agent(self, tmp_path: Path) -> None:
        """A pid with no process, or an agent name we do not know: RegistrationError."""
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(10)
        with pytest.raises(RegistrationError, match=f"pid {child.pid}"):
            register(child.pid, database=tmp_path / "events.db")
        with pytest.raises(RegistrationError, match="unknown agent"):
            register(os.getpid(), agent="vim", database=tmp_path / "events.db")
        assert read_records(spool_dir(tmp_path / "events.db")) == []

    def test_mark_stopped_of_a_gone_process_keeps_the_pid(self, tmp_path: Path) -> None:
        """Called after the kill, the notice still names the pid (identity unknown)."""
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(10)
        mark_stopped(child.pid, database=tmp_path / "events.db")
        [(path, data)] = read_records(spool_dir(tmp_path / "events.db"))
        notice = parse_spooled(path, data or {})
        assert isinstance(notice, StopNotice)
        assert (notice.pid, notice.identity) == (child.pid, None)


class TestIdentityFile:
    """Exact identities across restarts: rewritten only on change, tolerant when broken."""

    def test_round_trip_and_broken_file(self, tmp_path: Path) -> None:
        """What is saved loads back; garbage or a missing file loads as empty."""
        from collector.tracker.identities import IdentityFile
        from collector.tracker.process import read_identity

        own = read_identity(os.getpid())
        assert own is not None
        store = IdentityFile(tmp_path / "events.db")
        assert store.load() == {}
        store.save({"claude-code:a": own})
        mtime = store.path.stat().st_mtime_ns
        store.save({"claude-code:a": own})  # unchanged: not rewritten
        assert store.path.stat().st_mtime_ns == mtime
        assert IdentityFile(tmp_path / "events.db").load() == {"claude-code:a": own}
        store.path.write_text("{broken")
        assert IdentityFile(tmp_path / "events.db").load() == {}
        store.path.write_text('{"k": {"pid": "x"}, "j": 5}')
        assert IdentityFile(tmp_path / "events.db").load() == {}
