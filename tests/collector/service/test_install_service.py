"""install-service / uninstall-service against a temporary HOME.

The service managers are stand-ins (tests/collector/service/standins.py): ``systemctl --user`` needs
a running systemd user manager and ``launchctl`` needs macOS, neither of which exists in the test
sandbox. The stand-ins record every argv and keep enabled/active/loaded state so the installer's
queries get consistent answers. What is written is checked for real: the unit with
``systemd-analyze verify`` where that tool exists, the plist with plistlib.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector.service.daemon_harness import Instance
from tests.collector.service.standins import Managers
from tests.collector.service.test_service_files import SYSTEMD_ANALYZE, parse_unit, verify

UNIT = "agent-viz-monitor.service"
LABEL = "io.github.agent-viz-monitor"
COMMAND = [sys.executable, "-P", "-m", "collector.cli", "run"]


class Setup:
    """An isolated HOME, the stand-in managers on PATH, and a way to run the CLI there."""

    def __init__(self, tmp_path: Path) -> None:
        self.instance = Instance(tmp_path)
        self.home = self.instance.home
        self.managers = Managers(tmp_path)
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        self.env = self.managers.env({**self.instance.env, "XDG_RUNTIME_DIR": str(runtime)})
        self.unit = self.home / ".config" / "systemd" / "user" / UNIT
        self.plist = self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "collector.cli", *args], env=env or self.env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def systemctl(*args: str) -> list[str]:
    return ["systemctl", "--user", *args]


class TestSystemd:
    """The systemd user unit."""

    def test_install_writes_a_valid_unit_and_runs_the_right_commands(self, setup: Setup) -> None:
        """The unit parses (and passes systemd-analyze verify), names this interpreter, and the
        manager is told to reload, enable and start — in that order."""
        done = setup.cli("install-service", "--manager", "systemd")
        assert done.returncode == 0, done.stderr
        service = dict(parse_unit(setup.unit.read_text())["Service"])
        assert shlex.split(service["ExecStart"]) == COMMAND
        assert service["Type"] == "notify"
        assert setup.managers.calls() == [
            systemctl("daemon-reload"),
            systemctl("is-enabled", UNIT),
            systemctl("enable", UNIT),
            systemctl("is-active", UNIT),
            systemctl("start", UNIT),
        ]
        assert setup.managers.current() == {"enabled": True, "active": True}
        assert f"wrote         {setup.unit}" in done.stdout
        assert "done: 6 step(s) changed something" in done.stdout  # 2 folders, unit, 3 commands
        assert (setup.unit.stat().st_mode & 0o777) == 0o644
        if SYSTEMD_ANALYZE is not None:
            checked = verify(setup.unit, setup.home.parent)
            assert checked.returncode == 0, checked.stderr
            assert checked.stdout + checked.stderr == ""  # not even a warning

    def test_second_install_changes_nothing(self, setup: Setup) -> None:
        """Run twice: the second run only asks, writes nothing and says so."""
        assert setup.cli("install-service", "--manager", "systemd").returncode == 0
        setup.managers.calls()
        before = setup.unit.stat().st_mtime_ns
        done = setup.cli("install-service", "--manager", "systemd")
        assert done.returncode == 0, done.stderr
        assert setup.managers.calls() == [
            systemctl("is-enabled", UNIT),
            systemctl("is-active", UNIT),
        ]
        assert setup.unit.stat().st_mtime_ns == before
        assert f"unchanged     {setup.unit}" in done.stdout
        assert "nothing to do: already in place" in done.stdout

    def test_changed_unit_restarts_the_running_service(self, setup: Setup) -> None:
        """A new data folder changes the unit: reload, and restart (not start) what runs."""
        assert setup.cli("install-service", "--manager", "systemd").returncode == 0
        setup.managers.calls()
        env = {**setup.env, "XDG_DATA_HOME": str(setup.home / "elsewhere")}
        done = setup.cli("install-service", "--manager", "systemd", env=env)
        assert done.returncode == 0, done.stderr
        assert f"Environment=XDG_DATA_HOME={setup.home / 'elsewhere'}" in setup.unit.read_text()
        assert setup.managers.calls() == [
            systemctl("daemon-reload"),
            systemctl("is-enabled", UNIT),
            systemctl("is-active", UNIT),
            systemctl("restart", UNIT),
        ]

    def test_uninstall_removes_everything_once(self, setup: Setup) -> None:
        """Stop, disable, remove, reload; a second uninstall only asks. The database stays."""
        assert setup.cli("install-service", "--manager", "systemd").returncode == 0
        setup.managers.calls()
        done = setup.cli("uninstall-service", "--manager", "systemd")
        assert done.returncode == 0, done.stderr
        assert setup.managers.calls() == [
            systemctl("is-active", UNIT),
            systemctl("stop", UNIT),
            systemctl("is-enabled", UNIT),
            systemctl("disable", UNIT),
            systemctl("daemon-reload"),
        ]
        assert not setup.unit.exists()
        assert setup.managers.current() == {"enabled": False, "active": False}
        again = setup.cli("uninstall-service", "--manager", "systemd")
        assert again.returncode == 0, again.stderr
        assert setup.managers.calls() == [
            systemctl("is-active", UNIT),
            systemctl("is-enabled", UNIT),
        ]
        assert "nothing to do" in again.stdout

    def test_dry_run_prints_and_changes_nothing(self, setup: Setup) -> None:
        """--dry-run shows the unit and the commands; it only asks the manager questions."""
        done = setup.cli("install-service", "--manager", "systemd", "--dry-run")
        assert done.returncode == 0, done.stderr
        assert not setup.unit.exists()
        assert "      | Type=notify" in done.stdout
        assert f"would run     {shlex.join(systemctl('enable', UNIT))}" in done.stdout
        assert all(call[2].startswith("is-") for call in setup.managers.calls())

    def test_foreign_unit_is_left_alone(self, setup: Setup) -> None:
        """A unit file we did not write is not removed; the command says so and fails."""
        setup.unit.parent.mkdir(parents=True)
        setup.unit.write_text("[Service]\nExecStart=/bin/true\n")
        done = setup.cli("uninstall-service", "--manager", "systemd")
        assert done.returncode == 1
        assert "not written by install-service" in done.stderr
        assert setup.unit.exists()

    def test_a_daemon_started_by_hand_is_named_before_start(self, setup: Setup) -> None:
        """The service's daemon would exit 3 on the held lock: install stops before ``start``
        and names the pid; the unit is in place, so a second run after stopping it finishes."""
        proc = setup.instance.start()
        try:
            setup.instance.wait_ready(proc)
            done = setup.cli("install-service", "--manager", "systemd")
            assert done.returncode == 1
            assert f"pid {proc.pid}" in done.stderr
            assert ["systemctl", "--user", "start", UNIT] not in setup.managers.calls()
            assert setup.unit.exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        again = setup.cli("install-service", "--manager", "systemd")
        assert again.returncode == 0, again.stderr
        assert setup.managers.calls()[-1] == systemctl("start", UNIT)

    def test_without_a_user_session_the_reason_is_named(self, setup: Setup) -> None:
        """No XDG_RUNTIME_DIR (sudo, su): refused before anything is written."""
        env = {k: v for k, v in setup.env.items() if k != "XDG_RUNTIME_DIR"}
        done = setup.cli("install-service", "--manager", "systemd", env=env)
        assert done.returncode == 1
        assert "XDG_RUNTIME_DIR" in done.stderr
        assert not setup.unit.exists()
        assert setup.managers.calls() == []


class TestLaunchd:
    """The LaunchAgent."""

    def test_install_writes_a_plist_and_bootstraps_it(self, setup: Setup) -> None:
        """The plist round-trips through plistlib; enable + bootstrap in the user's gui domain."""
        done = setup.cli("install-service", "--manager", "launchd")
        assert done.returncode == 0, done.stderr
        data = setup.plist.read_bytes()
        agent = plistlib.loads(data)
        assert plistlib.dumps(agent, sort_keys=True) == data
        assert agent["Label"] == LABEL
        assert agent["ProgramArguments"] == COMMAND
        assert agent["RunAtLoad"] is True
        assert agent["KeepAlive"] == {"SuccessfulExit": False}
        state = setup.home / ".local" / "state" / "agent-viz-monitor"
        assert agent["StandardErrorPath"] == str(state / "agent-viz-monitor.log")
        assert state.is_dir()
        domain = f"gui/{os.getuid()}"
        assert setup.managers.calls() == [
            ["launchctl", "print", f"{domain}/{LABEL}"],
            ["launchctl", "enable", f"{domain}/{LABEL}"],
            ["launchctl", "bootstrap", domain, str(setup.plist)],
        ]

    def test_second_install_changes_nothing_and_uninstall_removes_all(self, setup: Setup) -> None:
        """Install twice (the second only asks), uninstall twice (the second only asks)."""
        service = f"gui/{os.getuid()}/{LABEL}"
        assert setup.cli("install-service", "--manager", "launchd").returncode == 0
        setup.managers.calls()
        again = setup.cli("install-service", "--manager", "launchd")
        assert again.returncode == 0, again.stderr
        assert setup.managers.calls() == [["launchctl", "print", service]]
        assert "nothing to do" in again.stdout
        done = setup.cli("uninstall-service", "--manager", "launchd")
        assert done.returncode == 0, done.stderr
        assert setup.managers.calls() == [["launchctl", "print", service],
                                          ["launchctl", "bootout", service]]  # fmt: skip
        assert not setup.plist.exists()
        last = setup.cli("uninstall-service", "--manager", "launchd")
        assert last.returncode == 0, last.stderr
        assert setup.managers.calls() == [["launchctl", "print", service]]
        assert "nothing to do" in last.stdout
