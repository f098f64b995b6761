"""``install-service`` / ``uninstall-service``: the daemon under the user's service manager.

Which manager (``--manager auto``): launchd on macOS; elsewhere systemd when the machine booted
with it (``/run/systemd/system`` exists, the sd_booted(3) test) and ``systemctl`` is on PATH.
Anything else is refused with the reason rather than guessed.

systemd, user manager: the unit goes to ``$XDG_CONFIG_HOME/systemd/user/``. ``systemctl --user``
reaches the manager through ``$XDG_RUNTIME_DIR``, which ``sudo``, ``su`` and bare ssh sessions
leave unset; that case is named instead of letting systemctl fail obscurely. Install writes the
unit, runs ``daemon-reload`` only when it changed, ``enable`` unless ``is-enabled`` says enabled,
``start`` unless ``is-active`` says active (``restart`` when the unit changed under a running
daemon). Uninstall runs ``stop`` and ``disable`` when needed, removes the unit only if it carries
our marker line, and reloads.

launchd: ``~/Library/LaunchAgents/<label>.plist`` in the ``gui/<uid>`` domain. Install writes the
plist, then ``enable`` + ``bootstrap`` when it is not loaded (``bootout`` first when it changed
while loaded) or ``kickstart`` when loaded but not running. Uninstall: ``bootout``, then the
plist is removed if its ``Label`` is ours.

The command written is this installation's own interpreter, ``sys.executable -P -m collector.cli
run``: exact even for editable and venv installs, and ``-P`` keeps the working directory (the
home folder under systemd) off ``sys.path``, so a ``collector/`` folder there cannot shadow us.
Neither manager reads shell start-up files, so the variables that move our paths (``XDG_*``,
``CLAUDE_CONFIG_DIR``, ``CODEX_HOME``) are copied from the installing shell; without them the
service could use another database than the CLI.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from collector.service.instance import running_pid
from collector.service.service_files import (
    LABEL,
    MARKER,
    UNIT_NAME,
    exec_line,
    launch_agent,
    render_plist,
    render_unit,
    service_environment,
)
from collector.service.steps import Steps, query
from config import Config
from config.errors import ServiceError
from config.paths import config_file, home, lock_path, state_dir

__all__ = ["ServiceState", "add_arguments", "detect_manager", "manager_for", "program", "run"]

SYSTEMCTL = ("systemctl", "--user")
LAUNCHCTL = "launchctl"
PASSED_VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "CLAUDE_CONFIG_DIR",
                    "CODEX_HOME")  # fmt: skip
_JOURNAL_HINT = "; see `journalctl --user -u agent-viz-monitor -e`"
_ENABLED = frozenset({"enabled", "enabled-runtime", "linked", "linked-runtime"})
_STOPPED = frozenset({"inactive", "failed", "unknown"})


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What ``doctor`` reports: is our file there, is it what install would write, is it up."""

    installed: bool
    current: bool
    running: bool
    state: str  # the manager's own word: active, failed, running, not loaded, …


class Manager(Protocol):
    """One service manager: where its file goes and how to install, remove and inspect it."""

    title: str
    path: Path

    def install(self, steps: Steps) -> None: ...

    def uninstall(self, steps: Steps) -> None: ...

    def inspect(self) -> ServiceState: ...


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Flags of install-service and uninstall-service."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be written and run; change nothing")  # fmt: skip
    parser.add_argument("--manager", choices=("auto", "systemd", "launchd"), default="auto",
                        help="service manager (default: detect)")  # fmt: skip
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="the web dashboard's service (a second one) instead of the daemon's",
    )


def run(name: str, args: argparse.Namespace, config: Config) -> int:
    """Install or remove the service; every step is printed with what it changed."""
    manager = manager_for(args.manager, getattr(args, "config", None), config,
                          dashboard=getattr(args, "dashboard", False))  # fmt: skip
    steps = Steps(sys.stdout, dry_run=args.dry_run)
    print(f"{name}: {manager.title}, {manager.path}")
    if name == "install-service":
        manager.install(steps)
    else:
        manager.uninstall(steps)
        steps.say("kept", f"{config.store.path} (the database is never removed)")
    steps.finish()
    return 0


def manager_for(
    kind: str, config_path: str | None, config: Config, *, dashboard: bool = False
) -> Manager:
    """The manager named by ``kind`` (``auto``: detected) for this installation's command."""
    if kind == "auto":
        kind = detect_manager(sys.platform, os.path.isdir("/run/systemd/system"), shutil.which)
    if dashboard:
        from collector.service.dashboard_service import dashboard_manager

        return dashboard_manager(kind, config_path, config)
    argv = program(config_path)
    if kind == "systemd":
        return SystemdUser(os.environ, argv, config.store.path)
    return LaunchAgent(os.environ, argv, os.getuid(), config.store.path)


def detect_manager(platform: str, systemd_booted: bool, which: Callable[[str], str | None]) -> str:
    """``systemd`` or ``launchd`` for this machine; ``ServiceError`` saying why when neither."""
    if platform == "darwin":
        if which(LAUNCHCTL) is None:
            raise ServiceError("macOS without launchctl on PATH: cannot install a LaunchAgent")
        return "launchd"
    if not systemd_booted:
        raise ServiceError(
            "no supported service manager: /run/systemd/system is missing (not booted with "
            "systemd, or inside a container); run `agent-viz-monitor run` under your own "
            "supervisor, or pass --manager"
        )
    if which(SYSTEMCTL[0]) is None:
        raise ServiceError("systemd is running but systemctl is not on PATH")
    return "systemd"


def program(config_path: str | None) -> list[str]:
    """The absolute command that runs this installation's daemon."""
    argv = [sys.executable, "-P", "-m", "collector.cli"]
    if config_path:
        argv += ["--config", os.path.abspath(config_path)]
    return [*argv, "run"]


def environment(env: Mapping[str, str]) -> dict[str, str]:
    """What the service needs set: output settings plus the path variables of this shell."""
    values = service_environment()
    for name in PASSED_VARIABLES:
        if env.get(name, "").startswith("/"):
            values[name] = env[name]
    return values


class SystemdUser:
    """The systemd user manager (``systemctl --user``)."""

    title = "systemd user manager"
    unit = UNIT_NAME
    exclusive = True  # the daemon takes the database's lock; a dashboard only reads

    def __init__(self, env: Mapping[str, str], argv: list[str], database: Path) -> None:
        self.env = env
        self.path = config_file(env).parents[1] / "systemd" / "user" / self.unit
        self.text = render_unit(exec_line(argv), environment(env))
        self.database = database

    def install(self, steps: Steps) -> None:
        """Write, reload, enable, start: each only when needed."""
        self._check_session(steps)
        steps.folder(self.database.parent)
        steps.folder(self.path.parent)
        changed = steps.write(self.path, self.text.encode())
        if changed:
            steps.run([*SYSTEMCTL, "daemon-reload"])
        if self._state(steps, "is-enabled") == "enabled":
            steps.skip(f"enable: {self.unit} is already enabled")
        else:
            steps.run([*SYSTEMCTL, "enable", self.unit])
        state = self._state(steps, "is-active")
        active = state is not None and state not in _STOPPED
        if active and not changed:
            steps.skip(f"start: {self.unit} is already running")
        else:
            if not active and self.exclusive:
                _refuse_foreign_daemon(self.database, steps)
            steps.run([*SYSTEMCTL, "restart" if active else "start", self.unit], _JOURNAL_HINT)
        steps.say("logs", "journalctl --user -u agent-viz-monitor")
        steps.say("note", "it runs while you are logged in; `loginctl enable-linger` keeps it up")

    def uninstall(self, steps: Steps) -> None:
        """Stop, disable, remove our unit, reload: each only when needed."""
        self._check_session(steps)
        state = self._state(steps, "is-active")
        if state not in _STOPPED:
            steps.run([*SYSTEMCTL, "stop", self.unit])
        elif state == "failed":
            steps.run([*SYSTEMCTL, "reset-failed", self.unit])
        else:
            steps.skip(f"stop: {self.unit} is not running")
        enabled = self._state(steps, "is-enabled")
        if enabled is None or enabled in _ENABLED:
            steps.run([*SYSTEMCTL, "disable", self.unit])
        else:
            steps.skip(f"disable: {self.unit} is not enabled")
        if not self.path.exists():
            steps.skip(f"remove: no unit file at {self.path}")
            return
        if MARKER not in self.path.read_text(errors="replace"):
            raise ServiceError(f"{self.path} was not written by install-service; left in place")
        steps.remove(self.path)
        steps.run([*SYSTEMCTL, "daemon-reload"])

    def inspect(self) -> ServiceState:
        """Installed, current and running, from the unit file and ``is-active``."""
        installed = self.path.exists()
        current = installed and self.path.read_text(errors="replace") == self.text
        done = query([*SYSTEMCTL, "is-active", self.unit], missing_ok=True)
        state = (done.stdout.strip() if done else "") or "unknown (systemctl missing)"
        return ServiceState(installed, current, state == "active", state)

    def _check_session(self, steps: Steps) -> None:
        if not self.env.get("XDG_RUNTIME_DIR") and not steps.dry_run:
            raise ServiceError(
                "systemctl --user cannot reach your user manager: XDG_RUNTIME_DIR is not set "
                "(sudo, su, or an ssh session without a login session?); run this as yourself "
                "in a login session"
            )

    def _state(self, steps: Steps, verb: str) -> str | None:
        """What ``systemctl --user <verb>`` prints; None (unknown: plan every step) when
        systemctl is missing in a dry run."""
        done = steps.query([*SYSTEMCTL, verb, self.unit])
        if done is None:
            return None
        lines = done.stdout.strip().splitlines()
        return lines[0].strip() if lines else "unknown"


class LaunchAgent:
    """The launchd per-user agent in the ``gui/<uid>`` domain."""

    title = "launchd LaunchAgent"
    label = LABEL
    log_name = "agent-viz-monitor.log"
    exclusive = True

    def __init__(self, env: Mapping[str, str], argv: list[str], uid: int, database: Path) -> None:
        self.path = home(env) / "Library" / "LaunchAgents" / f"{self.label}.plist"
        self.log_dir = state_dir(env)
        log_file = str(self.log_dir / self.log_name)
        self.data = render_plist(launch_agent(argv, log_file, environment(env)))
        self.domain = f"gui/{uid}"
        self.service = f"{self.domain}/{self.label}"
        self.database = database

    def install(self, steps: Steps) -> None:
        """Write, then load (or reload, or start) only what is not already so."""
        steps.folder(self.log_dir)
        steps.folder(self.path.parent)
        changed = steps.write(self.path, self.data)
        state = self._state(steps)
        if state is not None and changed:
            steps.run([LAUNCHCTL, "bootout", self.service])
            state = None
        if state is None and self.exclusive:
            _refuse_foreign_daemon(self.database, steps)
        if state is None:
            steps.run([LAUNCHCTL, "enable", self.service])
            steps.run([LAUNCHCTL, "bootstrap", self.domain, str(self.path)])
        elif state != "running":
            steps.run([LAUNCHCTL, "kickstart", self.service])
        else:
            steps.skip(f"bootstrap: {self.label} is already loaded and running")
        steps.say("logs", str(self.log_dir / self.log_name))

    def uninstall(self, steps: Steps) -> None:
        """Unload, then remove our plist."""
        if self._state(steps) is not None:
            steps.run([LAUNCHCTL, "bootout", self.service])
        else:
            steps.skip(f"bootout: {self.label} is not loaded")
        if not self.path.exists():
            steps.skip(f"remove: no plist at {self.path}")
            return
        try:
            label = plistlib.loads(self.path.read_bytes()).get("Label")
        except (OSError, plistlib.InvalidFileException, ValueError):
            label = None
        if label != self.label:
            raise ServiceError(f"{self.path} was not written by install-service; left in place")
        steps.remove(self.path)

    def inspect(self) -> ServiceState:
        """Installed, current and running, from the plist and ``launchctl print``."""
        installed = self.path.exists()
        current = installed and self.path.read_bytes() == self.data
        state = _launchd_state(query([LAUNCHCTL, "print", self.service], missing_ok=True))
        return ServiceState(installed, current, state == "running", state or "not loaded")

    def _state(self, steps: Steps) -> str | None:
        """None when not loaded, else launchd's ``state`` (``running``, ``waiting``, …)."""
        return _launchd_state(steps.query([LAUNCHCTL, "print", self.service]))


def _refuse_foreign_daemon(database: Path, steps: Steps) -> None:
    """A daemon started by hand holds the database: the service's would exit 3 and fail."""
    pid = running_pid(lock_path(database))
    if pid is not None and not steps.dry_run:
        raise ServiceError(
            f"a daemon (pid {pid}) started outside the service manager already uses {database}; "
            f"stop it (kill {pid}) and run install-service again"
        )


def _launchd_state(done: subprocess.CompletedProcess[str] | None) -> str | None:
    """The ``state = …`` line of ``launchctl print``; None when the job is not loaded."""
    if done is None or done.returncode != 0:
        return None
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "state":
            return value.strip()
    return "unknown"
