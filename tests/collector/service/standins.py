"""Stand-ins for ``systemctl`` and ``launchctl``: small programs put first on PATH that record
their argv and keep the manager's state (enabled, active, loaded) in a JSON file, so the
installer's queries get consistent answers. The real managers cannot run in this sandbox (no
systemd as PID 1, no macOS); what the installer writes is checked for real (systemd-analyze,
plistlib), what it runs is checked against these recordings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["Managers"]

_PROGRAM = """#!{python}
import json, os, plistlib, sys
state_file, log_file = os.environ["STANDIN_STATE"], os.environ["STANDIN_LOG"]
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(log_file, "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
try:
    with open(state_file) as f:
        state = json.load(f)
except FileNotFoundError:
    state = {{}}
code = 0
if name == "systemctl":
    verb = args[1] if args[:1] == ["--user"] else "missing --user"
    if verb == "is-enabled":
        print("enabled" if state.get("enabled") else "disabled")
        code = 0 if state.get("enabled") else 1
    elif verb == "is-active":
        print("active" if state.get("active") else "inactive")
        code = 0 if state.get("active") else 3
    elif verb in ("enable", "disable"):
        state["enabled"] = verb == "enable"
    elif verb in ("start", "restart", "stop"):
        state["active"] = verb != "stop"
    elif verb not in ("daemon-reload", "reset-failed"):
        print(f"stand-in systemctl: unexpected {{args}}", file=sys.stderr)
        code = 2
else:
    verb = args[0] if args else ""
    if verb == "print":
        if state.get("loaded"):
            print("{{\\n\\tstate = running\\n}}")
        else:
            print("Could not find service", file=sys.stderr)
            code = 113
    elif verb == "bootstrap":
        with open(args[2], "rb") as f:
            plistlib.load(f)  # a plist launchd could not parse fails the bootstrap
        state["loaded"] = True
    elif verb == "bootout":
        state["loaded"] = False
    elif verb not in ("enable", "kickstart"):
        print(f"stand-in launchctl: unexpected {{args}}", file=sys.stderr)
        code = 2
with open(state_file, "w") as f:
    json.dump(state, f)
sys.exit(code)
"""


class Managers:
    """A bin folder with the stand-ins, and what they recorded."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "standin-bin"
        self.bin.mkdir(parents=True)
        self.log = root / "standin.log"
        self.state = root / "standin-state.json"
        for name in ("systemctl", "launchctl"):
            program = self.bin / name
            program.write_text(_PROGRAM.format(python=sys.executable))
            program.chmod(0o755)

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with the stand-ins first on PATH."""
        return {**base, "PATH": f"{self.bin}{os.pathsep}{base.get('PATH', '')}",
                "STANDIN_STATE": str(self.state), "STANDIN_LOG": str(self.log)}  # fmt: skip

    def calls(self) -> list[list[str]]:
        """Every recorded argv so far, then forget them."""
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return calls

    def current(self) -> dict[str, Any]:
        return dict(json.loads(self.state.read_text())) if self.state.exists() else {}
