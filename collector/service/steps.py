"""The steps of install-service and uninstall-service, each printed with what it changed.

Every step prints one line: what it touched and whether it changed anything (``wrote`` /
``unchanged``, ``ran`` / ``skipped``), so running a command twice shows that the second run did
nothing. With ``dry_run`` the changing steps print ``would …`` and touch nothing; queries (which
change nothing, e.g. ``systemctl --user is-enabled``) still run so the plan is the real one.

Files are written atomically (a temporary file in the same folder, then ``os.replace``): a
service manager never reads half a unit.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from collector.atomic import write_atomic
from config.errors import ServiceError

__all__ = ["Steps", "query"]

_TIMEOUT = 120.0  # `systemctl start` of a Type=notify unit waits for READY=1


class Steps:
    """Applies (or, dry, describes) steps and counts the ones that changed something."""

    def __init__(self, out: TextIO, *, dry_run: bool) -> None:
        self.out = out
        self.dry_run = dry_run
        self.changes = 0

    def say(self, verb: str, what: str) -> None:
        """One report line."""
        self.out.write(f"  {verb:<13} {what}\n")
        self.out.flush()

    def folder(self, path: Path) -> None:
        """Create ``path`` (0700) unless it exists."""
        if path.is_dir():
            self.say("exists", f"{path}/")
            return
        self._change("created", "create", f"{path}/")
        if not self.dry_run:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def write(self, path: Path, data: bytes, mode: int = 0o644) -> bool:
        """Write ``data`` to ``path`` unless it already holds exactly that; True when changed."""
        try:
            if path.read_bytes() == data:
                self.say("unchanged", str(path))
                return False
        except OSError:
            pass
        self._change("wrote", "write", str(path))
        if self.dry_run:
            self.out.write(_indent(data.decode()))
        else:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path, data, mode=mode, fsync=True)
        return True

    def remove(self, path: Path) -> None:
        """Delete ``path``."""
        self._change("removed", "remove", str(path))
        if not self.dry_run:
            path.unlink(missing_ok=True)

    def skip(self, what: str) -> None:
        """A step that had nothing to do."""
        self.say("skipped", what)

    def query(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
        """Run a read-only command (also when dry); None when the program is missing."""
        return query(argv, missing_ok=self.dry_run)

    def run(self, argv: Sequence[str], hint: str = "") -> None:
        """Run a command that changes the manager's state; raise ``ServiceError`` if it fails."""
        self._change("ran", "run", shlex.join(argv))
        if self.dry_run:
            return
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=_TIMEOUT,
                                  check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(f"`{shlex.join(argv)}` failed: {exc}{hint}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            reason = detail[-1] if detail else "no output"
            raise ServiceError(
                f"`{shlex.join(argv)}` failed (exit {done.returncode}): {reason}{hint}"
            )

    def finish(self) -> None:
        """The closing line: how many steps changed something."""
        if self.dry_run:
            self.out.write(f"dry run: {self.changes} step(s) would change something\n")
        elif self.changes:
            self.out.write(f"done: {self.changes} step(s) changed something\n")
        else:
            self.out.write("nothing to do: already in place\n")

    def _change(self, done: str, planned: str, what: str) -> None:
        self.changes += 1
        self.say(f"would {planned}" if self.dry_run else done, what)


def query(argv: Sequence[str], *, missing_ok: bool) -> subprocess.CompletedProcess[str] | None:
    """Run a command that changes nothing (``is-active``, ``print``) and return its output;
    None when the program is missing and ``missing_ok``, else ``ServiceError``."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=_TIMEOUT,
                              check=False)  # fmt: skip
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ServiceError(f"{argv[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"`{shlex.join(argv)}` did not answer in {_TIMEOUT:.0f}s") from None


def _indent(text: str) -> str:
    return "".join(f"      | {line}\n" for line in text.splitlines())
