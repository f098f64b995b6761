"""``install-service --dashboard``: the dashboard as a second user service.

The service managers are stand-ins (tests/collector/service/standins.py), as for the daemon's
service: ``systemctl --user`` needs a running systemd user manager and ``launchctl`` needs macOS.
The unit is checked with ``systemd-analyze verify`` where that tool exists.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from pathlib import Path

from tests.collector.service.test_install_service import UNIT, Setup, systemctl
from tests.collector.service.test_service_files import SYSTEMD_ANALYZE, parse_unit, verify

DASH_UNIT = "agent-viz-monitor-dashboard.service"
DASH_LABEL = "io.github.agent-viz-monitor.dashboard"
COMMAND = [sys.executable, "-P", "-m", "collector.cli", "dashboard"]


def test_systemd_second_unit_beside_the_daemon(tmp_path: Path) -> None:
    """Both services install side by side; the dashboard's unit runs ``dashboard``, may use
    the network (it listens) and has no sd_notify watchdog; uninstall removes only it."""
    setup = Setup(tmp_path)
    done = setup.cli("install-service", "--manager", "systemd", "--dashboard")
    assert done.returncode == 0, done.stderr
    path = setup.unit.with_name(DASH_UNIT)
    unit = parse_unit(path.read_text())
    service = dict(unit["Service"])
    assert shlex.split(service["ExecStart"]) == COMMAND
    assert service["Type"] == "simple"
    assert "WatchdogSec" not in service
    assert service["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    assert dict(unit["Unit"])["After"] == UNIT
    assert setup.managers.calls() == [
        systemctl("daemon-reload"),
        systemctl("is-enabled", DASH_UNIT),
        systemctl("enable", DASH_UNIT),
        systemctl("is-active", DASH_UNIT),
        systemctl("start", DASH_UNIT),
    ]
    if SYSTEMD_ANALYZE is not None:
        checked = verify(path, setup.home.parent)
        assert checked.returncode == 0, checked.stderr
    # The stand-in keeps one enabled/active state for all units, so the daemon's unit is
    # installed second; what matters here is that the two files live side by side.
    assert setup.cli("install-service", "--manager", "systemd").returncode == 0
    assert setup.unit.exists()
    assert path.exists()
    gone = setup.cli("uninstall-service", "--manager", "systemd", "--dashboard")
    assert gone.returncode == 0, gone.stderr
    assert not path.exists()
    assert setup.unit.exists()  # the daemon's unit stays


def test_launchd_agent_has_its_own_label_and_log(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    done = setup.cli("install-service", "--manager", "launchd", "--dashboard")
    assert done.returncode == 0, done.stderr
    plist = setup.plist.with_name(f"{DASH_LABEL}.plist")
    agent = plistlib.loads(plist.read_bytes())
    assert agent["Label"] == DASH_LABEL
    assert agent["ProgramArguments"] == COMMAND
    assert agent["StandardErrorPath"].endswith("agent-viz-monitor-dashboard.log")
    domain = f"gui/{os.getuid()}"
    assert setup.managers.calls()[-1] == ["launchctl", "bootstrap", domain, str(plist)]
    assert not setup.plist.exists()  # the daemon's agent is not touched
