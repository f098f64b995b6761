"""What a person sees in a real terminal: a ``tmux`` pane (its own server socket), read with
``capture-pane``. The backfill bar must never share a line with a log line, and
``events --follow`` must show new events as the daemon commits them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.service.daemon_harness import FIXTURES, Instance, expect
from tests.collector.service.fixture_home import lay_out

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[(info|warning|error)")
BAR_LINE = re.compile(r"^backfill \d+ files .*━.* MB .*events")


class Pane:
    """One tmux pane on a private server, running one command under ``env``."""

    def __init__(self, env: dict[str, str], width: int = 160, height: int = 50) -> None:
        self.socket = f"avm-{uuid.uuid4().hex[:8]}"
        self.env = env
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "cat")
        self._tmux("set-option", "-g", "remain-on-exit", "on")
        self._tmux("set-option", "-g", "history-limit", "5000")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], env=self.env,
                              capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
        return done.stdout

    def run(self, argv: list[str]) -> int:
        """Replace the pane's process with ``argv``; returns its pid."""
        self._tmux("respawn-pane", "-k", "-t", "t", "exec " + " ".join(argv))
        return int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())

    def lines(self) -> list[str]:
        """The pane's text, wrapped lines joined, history included, trailing blanks dropped."""
        text = self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")
        found = [line.rstrip() for line in text.splitlines()]
        while found and not found[-1]:
            found.pop()
        return found

    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env,
                       capture_output=True, timeout=10, check=False)  # fmt: skip


@pytest.fixture
def pane_env(tmp_path: Path) -> Iterator[tuple[Instance, list[Pane]]]:
    instance = Instance(tmp_path)
    instance.env["TERM"] = "xterm-256color"
    instance.env.pop("COLUMNS", None)
    instance.env.pop("LINES", None)
    panes: list[Pane] = []
    try:
        yield instance, panes
    finally:
        for pane in panes:
            pane.close()
        instance.stop_all()


def _python(instance: Instance, *args: str) -> list[str]:
    return [sys.executable, "-m", "collector.cli", *args]


def _more_claude_copies(instance: Instance, copies: int) -> None:
    """Extra copies of the top-level Claude fixtures under new names: a longer backfill."""
    for n in range(copies):
        for path in sorted((FIXTURES / "claude").glob("*.jsonl")):
            target = instance.claude / f"-copy-{n}" / f"{path.stem}-copy{n}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


class TestBackfillBar:
    def test_bar_and_log_lines_never_share_a_line(
        self, pane_env: tuple[Instance, list[Pane]]
    ) -> None:
        """A slowed backfill on a terminal: the bar shows files, bytes, events/s and time
        left; a log line written mid-backfill (SIGHUP's reload notice) lands on its own line
        above the bar; every line is either a whole log line or the bar."""
        instance, panes = pane_env
        lay_out(instance)
        _more_claude_copies(instance, 4)
        instance.env.update({"AGENT_VIZ_MONITOR_COLLECTOR__READ_CHUNK_BYTES": "4096",
                             "AGENT_VIZ_MONITOR_COLLECTOR__BATCH_ROWS": "1"})  # fmt: skip
        pane = Pane(instance.env)
        panes.append(pane)
        pid = pane.run(_python(instance, "run", "--once"))
        bar = expect(lambda: next((x for x in pane.lines() if BAR_LINE.match(x)), None), 30)
        assert re.search(r"[\d.]+/[\d.]+ MB", bar)
        assert re.search(r"[\d,]+ events · [\d,]+/s", bar)
        os.kill(pid, signal.SIGHUP)  # the daemon logs config_reloaded while the bar is shown
        expect(pane.dead, 60)
        final = pane.lines()
        assert any("config_reloaded" in line for line in final), final
        assert any("daemon_stopped" in line for line in final), final
        reload_at = next(i for i, x in enumerate(final) if "config_reloaded" in x)
        bar_at = max(i for i, x in enumerate(final) if BAR_LINE.match(x))
        assert reload_at < bar_at, "\n".join(final)  # printed above the bar, not into it
        for line in final:
            if not line or line.startswith("Pane is dead"):
                continue
            assert LOG_LINE.match(line) or BAR_LINE.match(line), "\n".join(final)
            assert not (LOG_LINE.match(line) and "━" in line), line
        assert re.search(r"[\d,]+ events", final[bar_at])

    def test_no_bar_without_a_terminal(self, tmp_path: Path) -> None:
        """Piped stderr: JSON log lines only, progress as log records."""
        instance = Instance(tmp_path)
        lay_out(instance)
        done = instance.run("run", "--once")
        assert done.returncode == 0
        assert "━" not in done.stderr
        assert all(line.startswith("{") for line in done.stderr.splitlines())
        assert '"event":"backfill_finished"' in done.stderr


class TestFollow:
    def test_new_events_appear_in_the_terminal(self, pane_env: tuple[Instance, list[Pane]]) -> None:
        """``events --follow`` in a terminal prints the last events, then the commands of a
        transcript written after it started, one fixed-width line each."""
        instance, panes = pane_env
        first = instance.claude / "-a" / "aaaaaaaa-0000-4000-8000-000000000001.jsonl"
        first.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "claude" / "drm-hello-world-script.jsonl", first)
        daemon = instance.start()
        instance.wait_ready(daemon)
        expect(lambda: instance.committed_offset(first) == first.stat().st_size)
        pane = Pane(instance.env)
        panes.append(pane)
        pane.run(_python(instance, "events", "--follow", "--type", "command", "--limit", "5"))
        expect(lambda: any(" command " in line for line in pane.lines()), 15)
        shown = len(pane.lines())
        second = instance.claude / "-b" / "aaaaaaaa-0000-4000-8000-000000000002.jsonl"
        second.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "claude" / "drm-coverage-test-fix.jsonl", second)
        wanted = instance_commands(second)
        expect(lambda: all(any(c in line for line in pane.lines()) for c in wanted), 20)
        new = pane.lines()[shown:]
        assert new
        for line in new:
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z +\d+ +command ", line), line


def instance_commands(path: Path) -> list[str]:
    """The first words of each Bash command in a transcript (they start the detail column)."""
    import json

    found = []
    for raw in path.read_bytes().splitlines():
        content = (json.loads(raw).get("message") or {}).get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use" and block.get("name") == "Bash":
                found.append(" ".join(block["input"]["command"].split())[:30])
    assert found
    return found
