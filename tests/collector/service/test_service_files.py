"""Rendering the unit and the plist (pure), the checked-in copies, and manager detection."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collector.service.installer import detect_manager, environment, program
from collector.service.service_files import (
    HARDENING,
    LABEL,
    MARKER,
    exec_line,
    launch_agent,
    render_plist,
    render_unit,
)
from config.errors import ServiceError

REPO = Path(__file__).resolve().parents[3]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# Options that need a mount, user or network namespace, or are system-manager only: in a user
# unit they are skipped or depend on the host (systemd#9870, #25233, #17860).
NAMESPACED = {
    "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths", "ReadOnlyPaths",
    "PrivateUsers", "PrivateNetwork", "ProtectControlGroups", "ProtectKernelTunables",
    "ProtectKernelModules", "PrivateDevices", "DynamicUser", "StateDirectory",
}  # fmt: skip


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as ordered (key, value) lists (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"assignment outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line}"
        current.append((key, value))
    return sections


def verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify --user`` (needs only a runtime folder, not a running manager)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--user", str(unit)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


class TestExecLine:
    """argv → ExecStart= words: specifiers and variables escaped, blanks quoted."""

    @pytest.mark.parametrize(
        ("argv", "line"),
        [
            (["/usr/bin/python3", "-P", "-m", "collector.cli", "run"],
             "/usr/bin/python3 -P -m collector.cli run"),
            (["/opt/my tools/python"], '"/opt/my tools/python"'),
            (["/x/100%/py"], "/x/100%%/py"),
            (["/x/$HOME/py", "$HOME"], "/x/$HOME/py $$HOME"),  # no expansion in the path
            (['/x/"q"/py'], '"/x/\\"q\\"/py"'),
            (["/x/a\\b"], '"/x/a\\\\b"'),
            ([""], '""'),
        ],
    )  # fmt: skip
    def test_words(self, argv: list[str], line: str) -> None:
        """Each word is escaped as systemd.service(5) "Command lines" requires."""
        assert exec_line(argv) == line

    @pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
    def test_systemd_finds_an_executable_with_awkward_characters(self, tmp_path: Path) -> None:
        """A path with a blank, ``%`` and ``$`` still names the right file to systemd (verify
        fails when the executable does not exist, so a wrong escape would show)."""
        folder = tmp_path / "my 100% $tools"
        folder.mkdir()
        (folder / "python").symlink_to(sys.executable)
        unit = tmp_path / "awkward.service"
        unit.write_text(render_unit(exec_line([str(folder / "python"), "-c", "pass $x"])))
        done = verify(unit, tmp_path)
        assert done.returncode == 0, done.stderr
        missing = tmp_path / "missing.service"
        missing.write_text(render_unit(exec_line([str(tmp_path / "my 100% $none")])))
        assert verify(missing, tmp_path).returncode != 0


class TestUnit:
    """The user unit's settings."""

    def test_service_settings(self) -> None:
        """notify readiness, watchdog, restart on failure, stop timeout above the 5 s drain."""
        service = dict(parse_unit(render_unit("/bin/true"))["Service"])
        assert service["Type"] == "notify"
        assert int(service["WatchdogSec"]) >= 10
        assert service["WatchdogSignal"] == "SIGABRT"  # faulthandler dumps the stacks
        assert service["Restart"] == "on-failure"
        assert int(service["TimeoutStopSec"]) > 5
        assert service["ExecStart"] == "/bin/true"

    def test_hardening_is_namespace_free(self) -> None:
        """Only options that take effect in a user manager (seccomp/prctl based)."""
        keys = {key for key, _ in parse_unit(render_unit("/bin/true"))["Service"]}
        assert {key for key, _ in HARDENING} <= keys
        assert not keys & NAMESPACED

    def test_install_section_and_marker(self) -> None:
        """default.target (multi-user.target does not exist for users) and our marker line."""
        text = render_unit("/bin/true")
        assert parse_unit(text)["Install"] == [("WantedBy", "default.target")]
        assert text.startswith(MARKER + "\n")

    def test_environment_is_written_escaped(self) -> None:
        """Environment= values with blanks are quoted and ``%`` doubled."""
        text = render_unit("/bin/true", {"XDG_DATA_HOME": "/d/my data 100%"})
        assert 'Environment="XDG_DATA_HOME=/d/my data 100%%"' in text

    def test_checked_in_unit_is_the_rendering(self) -> None:
        """systemd/agent-viz-monitor.service is what install-service writes for a
        ``~/.local/bin`` (pipx) install, so the file in the repository cannot drift."""
        expected = render_unit("%h/.local/bin/agent-viz-monitor run")
        assert (REPO / "systemd" / "agent-viz-monitor.service").read_text() == expected


class TestPlist:
    """The LaunchAgent."""

    def test_round_trips_through_plistlib(self) -> None:
        """The bytes parse back to the same dictionary."""
        agent = launch_agent(["/x/python", "-P", "-m", "collector.cli", "run"], "/s/a.log")
        assert plistlib.loads(render_plist(agent)) == agent

    def test_keys(self) -> None:
        """Label, start at load, restart only after a crash, logs to the given file."""
        agent = launch_agent(["/x/python", "run"], "/s/a.log")
        assert agent["Label"] == LABEL == "io.github.agent-viz-monitor"
        assert agent["RunAtLoad"] is True
        assert agent["KeepAlive"] == {"SuccessfulExit": False}
        assert agent["StandardOutPath"] == agent["StandardErrorPath"] == "/s/a.log"

    def test_escapes_what_string_formatting_would_not(self) -> None:
        """``<`` and ``&`` in a path survive (plistlib writes XML entities)."""
        agent = launch_agent(["/x/<a&b>/python"], "/s/a.log")
        assert plistlib.loads(render_plist(agent))["ProgramArguments"] == ["/x/<a&b>/python"]

    def test_checked_in_plist_is_the_rendering(self) -> None:
        """systemd/io.github.agent-viz-monitor.plist is the rendering for /Users/you."""
        expected = render_plist(launch_agent(
            ["/Users/you/.local/bin/agent-viz-monitor", "run"],
            "/Users/you/.local/state/agent-viz-monitor/agent-viz-monitor.log",
        ))  # fmt: skip
        assert (REPO / "systemd" / "io.github.agent-viz-monitor.plist").read_bytes() == expected


class TestProgram:
    """The command written into the unit."""

    def test_is_this_interpreter_without_the_working_directory_on_sys_path(self) -> None:
        """sys.executable -P -m collector.cli run; --config is carried as an absolute path."""
        assert program(None) == [sys.executable, "-P", "-m", "collector.cli", "run"]
        argv = program("rel/config.toml")
        assert argv[4:6] == ["--config", os.path.abspath("rel/config.toml")]

    def test_runs(self, tmp_path: Path) -> None:
        """The command starts this installation (check-config instead of run)."""
        argv = [*program(None)[:-1], "check-config"]
        env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert str(tmp_path) in done.stdout, shlex.join(argv)

    def test_path_variables_are_carried(self) -> None:
        """XDG_* and the agents' home variables of the installing shell go into the service;
        relative ones (invalid per the XDG spec) and unrelated ones do not."""
        env = {"XDG_DATA_HOME": "/d", "XDG_STATE_HOME": "rel", "CODEX_HOME": "/c", "FOO": "/f"}
        values = environment(env)
        assert values["XDG_DATA_HOME"] == "/d"
        assert values["CODEX_HOME"] == "/c"
        assert "XDG_STATE_HOME" not in values
        assert "FOO" not in values
        assert values["AGENT_VIZ_MONITOR_LOG__FORMAT"] == "json"


class TestDetectManager:
    """Which service manager ``--manager auto`` picks."""

    @pytest.mark.parametrize(
        ("platform", "booted", "programs", "expected"),
        [
            ("darwin", False, {"launchctl"}, "launchd"),
            ("linux", True, {"systemctl"}, "systemd"),
            ("linux", False, {"systemctl"}, None),  # a container: systemctl but no systemd
            ("linux", True, set(), None),
            ("darwin", False, set(), None),
            ("freebsd14", False, set(), None),
        ],
    )
    def test_table(
        self, platform: str, booted: bool, programs: set[str], expected: str | None
    ) -> None:
        """launchd on macOS, systemd only when booted with it; otherwise a reason."""

        def which(name: str) -> str | None:
            return f"/usr/bin/{name}" if name in programs else None

        if expected is None:
            with pytest.raises(ServiceError):
                detect_manager(platform, booted, which)
        else:
            assert detect_manager(platform, booted, which) == expected
