"""The systemd user unit and the LaunchAgent plist, rendered from the command that starts us.

Pure: no files, no processes. ``collector.service.installer`` writes what these functions return,
and ``systemd/`` holds the same renderings for a ``%h/.local/bin`` install (a test keeps them
equal).

systemd facts the unit relies on (systemd.service(5), systemd.exec(5), sd_notify(3)):

- ``Type=notify``: the unit is "started" when the daemon sends ``READY=1`` (after the watches
  and the backfill have started), not when the process exists.
- ``WatchdogSec=60``: the daemon pings ``WATCHDOG=1`` only while its writer and reader make
  progress; a wedged writer stops the pings and systemd sends ``WatchdogSignal=SIGABRT``, which
  ``faulthandler`` turns into every thread's stack in the journal, then ``Restart=on-failure``.
- ``RestartPreventExitStatus=2 3``: a config error (2) or another daemon on the database (3)
  does not heal by restarting every 5 s; the unit fails at once and ``status`` says why.
- ``TimeoutStopSec=15``: the daemon drains and exits within 5 s of SIGTERM; the margin covers a
  slow disk before systemd escalates to SIGKILL (which loses nothing, only time).
- Hardening: user managers run unprivileged, so options that need a mount namespace
  (``ProtectSystem=``, ``ProtectHome=``, ``PrivateTmp=``, ``ReadWritePaths=``) are silently
  skipped or need ``PrivateUsers=`` depending on the host (systemd#9870, #25233), and
  ``ProtectControlGroups=`` is system-only. Only seccomp/prctl based options are used: they
  work in every user manager (which implies ``NoNewPrivileges=`` for them).
- ``ExecStart=`` words: ``%`` is a specifier (doubled everywhere) and ``$`` an environment
  expansion in the arguments (doubled there); words with blanks or quotes are double-quoted
  with C escapes.

launchd facts (launchd.plist(5)): ``ProgramArguments`` is argv with no shell and no ``~``, so
every path is absolute; ``KeepAlive={SuccessfulExit: false}`` restarts after a crash (non-zero
exit or signal) but not after a clean stop; log files are never rotated.
"""

from __future__ import annotations

import plistlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "LABEL",
    "MARKER",
    "UNIT_NAME",
    "exec_line",
    "launch_agent",
    "render_plist",
    "render_unit",
    "service_environment",
]

UNIT_NAME = "agent-viz-monitor.service"
LABEL = "io.github.agent-viz-monitor"
MARKER = "# Written by `agent-viz-monitor install-service`; `uninstall-service` removes it."

# seccomp/prctl based: effective in a user manager without namespaces (see the docstring).
HARDENING = (
    ("NoNewPrivileges", "yes"),
    ("LockPersonality", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictNamespaces", "yes"),
    # The daemon only speaks AF_UNIX (the notify socket); it never opens a network socket.
    ("RestrictAddressFamilies", "AF_UNIX"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    # A syscall outside the filter fails with EPERM (logged, counted) instead of SIGSYS.
    ("SystemCallErrorNumber", "EPERM"),
    ("UMask", "0077"),
)


def service_environment() -> dict[str, str]:
    """Variables both managers set: unbuffered output, JSON logs chosen explicitly."""
    return {"PYTHONUNBUFFERED": "1", "AGENT_VIZ_MONITOR_LOG__FORMAT": "json"}


def exec_line(argv: Sequence[str]) -> str:
    """``argv`` as an ``ExecStart=`` command line (systemd.service(5), "Command lines").

    ``%`` is a specifier everywhere; ``$`` expands variables only in the arguments, not in the
    executable's path (``systemd-analyze verify`` confirms it), so only they double it.
    """
    if not argv:
        return ""
    head, *rest = argv
    return " ".join([_quoted(head.replace("%", "%%")), *(_exec_word(word) for word in rest)])


def _exec_word(word: str) -> str:
    return _quoted(word.replace("%", "%%").replace("$", "$$"))


def _env_word(key: str, value: str) -> str:
    """One ``Environment=`` assignment: ``%`` is a specifier there too, ``$`` is literal."""
    return _quoted(f"{key}={value}".replace("%", "%%"))


def _quoted(word: str) -> str:
    """``word`` as it is, or double-quoted with C escapes when it holds blanks or quotes."""
    if word and not any(c in word for c in " \t\"'\\;"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(exec_start: str, environment: Mapping[str, str] | None = None) -> str:
    """The user unit running ``exec_start`` (already an ``ExecStart=`` line, see ``exec_line``)."""
    env = service_environment() if environment is None else environment
    lines = [
        MARKER,
        "[Unit]",
        "Description=agent-viz-monitor: collect AI coding agents' transcripts into SQLite",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={exec_start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=5",
        "RestartPreventExitStatus=2 3",
        "TimeoutStopSec=15",
        "WatchdogSec=60",
        "WatchdogSignal=SIGABRT",
        *(f"Environment={_env_word(key, value)}" for key, value in env.items()),
        *(f"{key}={value}" for key, value in HARDENING),
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    return "\n".join(lines) + "\n"


def launch_agent(
    program: Sequence[str], log_file: str, environment: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The LaunchAgent dictionary: start at login, restart after a crash, log to ``log_file``."""
    env = service_environment() if environment is None else environment
    return {
        "Label": LABEL,
        "ProgramArguments": list(program),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        "ExitTimeOut": 15,
        "EnvironmentVariables": dict(env),
        "StandardOutPath": log_file,
        "StandardErrorPath": log_file,
    }


def render_plist(agent: Mapping[str, Any]) -> bytes:
    """XML plist bytes (plistlib escapes what string formatting would not)."""
    return plistlib.dumps(dict(agent), fmt=plistlib.FMT_XML, sort_keys=True)
