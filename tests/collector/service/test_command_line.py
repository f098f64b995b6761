"""Commands around the queries: ``install-hooks`` / ``uninstall-hooks`` on a real settings file,
``register``'s labelled output. Real subprocesses on an isolated HOME."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.collector.service.daemon_harness import Instance

OTHER_HOOK = {"type": "command", "command": "/usr/bin/true"}


def settings(instance: Instance) -> Path:
    return instance.home / ".claude" / "settings.json"


class TestHooks:
    def test_uninstall_removes_only_ours(self, tmp_path: Path) -> None:
        """Install then uninstall: the user's own hook and keys are exactly as before."""
        instance = Instance(tmp_path)
        path = settings(instance)
        path.parent.mkdir(parents=True)
        before = {"theme": "dark", "hooks": {"Stop": [{"hooks": [OTHER_HOOK]}]}}
        path.write_text(json.dumps(before))
        assert instance.run("install-hooks").returncode == 0
        installed = json.loads(path.read_text())
        assert len(installed["hooks"]) == 5
        done = instance.run("uninstall-hooks")
        assert done.returncode == 0
        assert "hooks removed from" in done.stdout
        assert json.loads(path.read_text()) == before
        again = instance.run("uninstall-hooks")
        assert again.returncode == 0
        assert "no agent-viz-monitor hooks" in again.stdout
        assert json.loads(path.read_text()) == before

    def test_explicit_settings_in_a_missing_folder_is_an_error(self, tmp_path: Path) -> None:
        instance = Instance(tmp_path)
        target = tmp_path / "nonexistent" / "dir" / "x.json"
        for command in ("install-hooks", "uninstall-hooks"):
            done = instance.run(command, "--settings", str(target))
            assert done.returncode == 2
            assert "does not exist" in done.stderr
            assert str(target.parent) in done.stderr
        assert not (tmp_path / "nonexistent").exists()

    def test_explicit_settings_in_an_existing_folder(self, tmp_path: Path) -> None:
        instance = Instance(tmp_path)
        target = tmp_path / "x.json"
        assert instance.run("install-hooks", "--settings", str(target)).returncode == 0
        assert set(json.loads(target.read_text())["hooks"]) >= {"SessionStart", "Stop"}


class TestRegister:
    def test_output_is_labelled(self, tmp_path: Path) -> None:
        instance = Instance(tmp_path)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            done = instance.run("register", "--pid", str(child.pid))
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"registered pid {child.pid}: registration id ")
            reg_id = done.stdout.split()[-1]
            quiet = instance.run("register", "--quiet", "--pid", str(child.pid))
            assert quiet.stdout.strip() != reg_id
            assert len(quiet.stdout.strip()) == len(reg_id) == 32
        finally:
            child.kill()
            child.wait(10)
