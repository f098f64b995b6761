"""The issue's smaller defects, each through the real CLI: a BOM on the first line, an
unreadable transcript, a read-only database folder, a closed stdout, the umask, a symlinked
settings.json, and registering another user's process.

Where a check needs an unprivileged user and the suite runs as root, the child runs as
``nobody`` through ``setpriv`` (root bypasses file permissions, so mode 000 would prove nothing).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.collector.service.daemon_harness import Instance, claude_lines, expect

SESSION = "11111111-2222-4333-8444-555555555555"
NOBODY = 65534


def unprivileged() -> list[str]:
    """The command prefix that runs a child as an ordinary user."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not available")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A folder an unprivileged child can reach (pytest's tmp_path sits in a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="avm-rel-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def give_to_nobody(root: Path) -> None:
    if os.geteuid() != 0:
        return
    for entry in [root, *root.rglob("*")]:
        os.chown(entry, NOBODY, NOBODY, follow_symlinks=False)


def events(instance: Instance) -> set[str]:
    return {str(r[0]) for r in instance.query("SELECT agent_event_id FROM events", strict=True)}


class TestBom:
    def test_first_line_with_a_bom_is_kept(self, tmp_path: Path) -> None:
        """A transcript saved with a UTF-8 BOM loses no line and records no problem."""
        lines = b"".join(claude_lines("drm-hello-world-script.jsonl"))
        with_bom, clean = Instance(tmp_path / "bom"), Instance(tmp_path / "clean")
        for instance, data in ((with_bom, b"\xef\xbb\xbf" + lines), (clean, lines)):
            path = instance.claude / "-p" / f"{SESSION}.jsonl"
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            assert instance.run("run", "--once").returncode == 0
        assert events(with_bom) == events(clean)
        assert with_bom.query("SELECT COUNT(*) FROM parse_problems") == [(0,)]


class TestUnreadable:
    def test_mode_000_transcript_is_a_file_error_in_status_and_doctor(
        self, open_home: Path
    ) -> None:
        """A transcript the daemon's user cannot read is counted, and named by status and
        doctor; its neighbour is ingested."""
        instance = Instance(open_home)
        project = instance.claude / "-p"
        project.mkdir(parents=True)
        locked = project / f"{SESSION}.jsonl"
        locked.write_bytes(b"".join(claude_lines("drm-hello-world-script.jsonl")))
        fine = project / "22222222-2222-4333-8444-555555555555.jsonl"
        fine.write_bytes(b"".join(claude_lines("drm-coverage-test-fix.jsonl")))
        give_to_nobody(open_home)
        locked.chmod(0)
        prefix = unprivileged()
        proc = subprocess.Popen([*prefix, *instance.command("run")], env=instance.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            expect(lambda: instance.committed_offset(fine) == fine.stat().st_size, 20)
            expect(lambda: str(locked) in (instance.status().get("file_problems") or {}), 20)
            assert instance.status()["counters"]["file_errors"] >= 1
            report = subprocess.run([*prefix, *instance.command("status")], env=instance.env,
                                    capture_output=True, text=True, check=False)  # fmt: skip
            assert f"unreadable {locked}: PermissionError" in report.stdout
            assert "file_errors 1" in report.stdout
            doctor = subprocess.run([*prefix, *instance.command("doctor", "--json")],
                                    env=instance.env, capture_output=True, text=True,
                                    check=False)  # fmt: skip
            checks = {c["name"]: c for c in orjson.loads(doctor.stdout)["checks"]}
            assert checks["transcripts"]["level"] == "warn"
            assert str(locked) in checks["transcripts"]["message"]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0


class TestReadOnlyFolder:
    def test_lock_file_in_a_read_only_folder_is_a_friendly_error(self, open_home: Path) -> None:
        """An existing database in a folder the user cannot write: one line naming the
        database and saying read-only, no traceback, exit 1."""
        instance = Instance(open_home)
        assert instance.run("run", "--once").returncode == 0
        (instance.database.parent / "events.db.lock").unlink()
        give_to_nobody(open_home)
        instance.database.parent.chmod(0o555)
        done = subprocess.run([*unprivileged(), *instance.command("run", "--once")],
                              env=instance.env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert str(instance.database) in done.stderr
        assert "read-only" in done.stderr


class TestClosedStdout:
    @pytest.mark.parametrize("command", [["status"], ["doctor"], ["status", "--json"]])
    def test_a_closed_pipe_ends_quietly(self, tmp_path: Path, command: list[str]) -> None:
        """``status | head -1`` with the reader already gone: no BrokenPipeError traceback."""
        instance = Instance(tmp_path)
        assert instance.run("run", "--once").returncode == 0
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader left before a byte was written: every write fails
        try:
            done = subprocess.run(instance.command(*command), env=instance.env, stdout=write_end,
                                  stderr=subprocess.PIPE, text=True, timeout=60,
                                  check=False)  # fmt: skip
        finally:
            os.close(write_end)
        assert "BrokenPipeError" not in done.stderr
        assert "Traceback" not in done.stderr
        assert done.returncode == 0


class TestUmask:
    def test_parent_folders_are_private_whatever_the_umask(self, tmp_path: Path) -> None:
        """Under ``umask 000`` the folders the daemon creates (~/.local, ~/.local/share and
        its own) are 0700, the database 0600."""
        instance = Instance(tmp_path)
        done = subprocess.run(instance.command("run", "--once"), env=instance.env, umask=0,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        for folder in (instance.home / ".local", instance.home / ".local" / "share",
                       instance.database.parent):  # fmt: skip
            assert folder.stat().st_mode & 0o777 == 0o700, folder
        assert instance.database.stat().st_mode & 0o777 == 0o600


class TestSymlinkedSettings:
    def test_install_hooks_writes_through_a_link(self, tmp_path: Path) -> None:
        """A settings.json that links into a dotfiles folder stays a link; the target gets
        the hooks and keeps its mode."""
        instance = Instance(tmp_path)
        dotfiles = tmp_path / "dotfiles"
        dotfiles.mkdir()
        target = dotfiles / "claude-settings.json"
        target.write_text('{"theme": "dark"}\n')
        target.chmod(0o640)
        settings = instance.home / ".claude" / "settings.json"
        settings.parent.mkdir(parents=True)
        settings.symlink_to(target)
        done = instance.run("install-hooks")
        assert done.returncode == 0, done.stderr
        assert settings.is_symlink()
        assert os.readlink(settings) == str(target)
        data = orjson.loads(target.read_bytes())
        assert data["theme"] == "dark"
        assert "hooks" in data
        assert target.stat().st_mode & 0o777 == 0o640


class TestRegisterOwnProcessesOnly:
    def test_another_users_process_is_refused(self, open_home: Path) -> None:
        """An unprivileged ``register --pid 1`` (root's init) is refused with a clear reason;
        the same user's own process is accepted."""
        instance = Instance(open_home)
        give_to_nobody(open_home)
        prefix = unprivileged()
        refused = subprocess.run([*prefix, *instance.command("register", "--pid", "1")],
                                 env=instance.env, capture_output=True, text=True,
                                 timeout=60, check=False)  # fmt: skip
        assert refused.returncode == 1
        assert "another user" in refused.stderr
        own = subprocess.Popen([*prefix, sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            accepted = subprocess.run(
                [*prefix, *instance.command("register", "--pid", str(own.pid))],
                env=instance.env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert accepted.returncode == 0, accepted.stderr
        finally:
            own.kill()
            own.wait(10)
