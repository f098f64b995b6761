"""``install-service --dashboard``: the dashboard as a second user service beside the daemon.

The same managers as the daemon's service (``collector.service.installer``) with another name and
command: ``agent-viz-monitor-dashboard.service`` / ``io.github.agent-viz-monitor.dashboard``
running ``… -m collector.cli dashboard`` on loopback. It differs from the daemon's unit where
a web server differs from the collector:

- ``Type=simple`` and no watchdog: the dashboard does not speak sd_notify; uvicorn listening is
  the whole of its start, and a wedged one is visible to the person using it.
- ``RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX``: it listens on a TCP port.
- ``After=``/``Wants=`` the daemon's unit, but it runs without it (it reads whatever is stored).
- ``RestartPreventExitStatus=2``: a bad option or a busy port does not heal by restarting.
- It does not take the database's lock, so a daemon started by hand does not block it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from collector.service.installer import LaunchAgent, Manager, SystemdUser, environment
from collector.service.service_files import (
    HARDENING,
    MARKER,
    UNIT_NAME,
    _env_word,
    exec_line,
    launch_agent,
    render_plist,
)
from config import Config

__all__ = ["DASHBOARD_LABEL", "DASHBOARD_UNIT", "dashboard_manager", "render_dashboard_unit"]

DASHBOARD_UNIT = "agent-viz-monitor-dashboard.service"
DASHBOARD_LABEL = "io.github.agent-viz-monitor.dashboard"
_NETWORK = ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")


def dashboard_program(config_path: str | None) -> list[str]:
    """The absolute command that runs this installation's dashboard (loopback, port 8765)."""
    argv = [sys.executable, "-P", "-m", "collector.cli"]
    if config_path:
        argv += ["--config", os.path.abspath(config_path)]
    return [*argv, "dashboard"]


def render_dashboard_unit(exec_start: str, env: Mapping[str, str]) -> str:
    """The dashboard's user unit (see the module docstring for how it differs)."""
    hardening = [_NETWORK if key == "RestrictAddressFamilies" else (key, value)
                 for key, value in HARDENING]  # fmt: skip
    lines = [
        MARKER,
        "[Unit]",
        "Description=agent-viz-monitor dashboard: the live web view (read-only, loopback)",
        f"After={UNIT_NAME}",
        f"Wants={UNIT_NAME}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
        "RestartSec=5",
        "RestartPreventExitStatus=2",
        "TimeoutStopSec=10",
        *(f"Environment={_env_word(key, value)}" for key, value in env.items()),
        *(f"{key}={value}" for key, value in hardening),
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    return "\n".join(lines) + "\n"


class DashboardUnit(SystemdUser):
    """The dashboard's systemd user unit."""

    unit = DASHBOARD_UNIT
    exclusive = False

    def __init__(self, env: Mapping[str, str], argv: list[str], database: Path) -> None:
        super().__init__(env, argv, database)
        self.text = render_dashboard_unit(exec_line(argv), environment(env))


class DashboardAgent(LaunchAgent):
    """The dashboard's LaunchAgent."""

    label = DASHBOARD_LABEL
    log_name = "agent-viz-monitor-dashboard.log"
    exclusive = False

    def __init__(self, env: Mapping[str, str], argv: list[str], uid: int, database: Path) -> None:
        super().__init__(env, argv, uid, database)
        agent = launch_agent(argv, str(self.log_dir / self.log_name), environment(env))
        agent["Label"] = self.label
        self.data = render_plist(agent)


def dashboard_manager(kind: str, config_path: str | None, config: Config) -> Manager:
    """The dashboard's service under the manager ``kind`` (already detected)."""
    argv = dashboard_program(config_path)
    if kind == "systemd":
        return DashboardUnit(os.environ, argv, config.store.path)
    return DashboardAgent(os.environ, argv, os.getuid(), config.store.path)
