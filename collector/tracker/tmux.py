"""Which tmux pane an agent runs in: ``session:window.pane``, for a dashboard to jump to.

tmux servers listen on sockets in ``${TMUX_TMPDIR:-/tmp}/tmux-<uid>/`` (``default``, or the
name given with ``-L``). For each socket, ``tmux -S <socket> list-panes -a`` names every pane
with its ``pane_pid``: the process tmux started in it (a shell, or the command itself). An agent
belongs to the pane whose ``pane_pid`` is the agent or one of its ancestors.

Costs: nothing when tmux is not installed or no socket exists; otherwise one short
``list-panes`` per server per process scan, and only while agents are alive. A dead server's
socket answers with an error and is skipped.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["PaneMap", "pane_for", "parse_panes", "socket_paths"]

_FORMAT = "#{pane_pid}\t#{session_name}:#{window_index}.#{pane_index}"
_TIMEOUT = 2.0


def parse_panes(text: str) -> dict[int, str]:
    """``pane_pid → target`` from ``list-panes`` output in ``_FORMAT``."""
    panes: dict[int, str] = {}
    for line in text.splitlines():
        pid, sep, target = line.partition("\t")
        if sep and pid.strip().isdigit() and target:
            panes[int(pid)] = target
    return panes


def pane_for(lineage: Iterable[int], panes: Mapping[int, str]) -> str | None:
    """The target of the first pane whose process is in ``lineage`` (the agent, then parents)."""
    for pid in lineage:
        target = panes.get(pid)
        if target is not None:
            return target
    return None


def socket_paths(env: Mapping[str, str]) -> list[Path]:
    """The tmux server sockets of this user."""
    folder = Path(env.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    out = []
    for path in entries:
        try:
            if stat.S_ISSOCK(path.stat().st_mode):
                out.append(path)
        except OSError:
            continue
    return out


class PaneMap:
    """Reads every tmux server's panes; ``refresh()`` once per scan."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._tmux = shutil.which("tmux", path=env.get("PATH"))
        self.panes: dict[int, str] = {}

    @property
    def available(self) -> bool:
        """Is tmux installed."""
        return self._tmux is not None

    def refresh(self) -> dict[int, str]:
        """Re-read the panes of every running server."""
        panes: dict[int, str] = {}
        if self._tmux is not None:
            for socket in socket_paths(self._env):
                panes.update(self._list(socket))
        self.panes = panes
        return panes

    def _list(self, socket: Path) -> dict[int, str]:
        assert self._tmux is not None
        try:
            done = subprocess.run(
                [self._tmux, "-S", str(socket), "list-panes", "-a", "-F", _FORMAT],
                capture_output=True, text=True, timeout=_TIMEOUT, check=False,
                stdin=subprocess.DEVNULL, env=self._env,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return {}
        return parse_panes(done.stdout) if done.returncode == 0 else {}
