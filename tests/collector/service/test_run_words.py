"""``run`` is read without building the full parser: the daemon keeps whatever it imports for
its whole life, and the full parser imports every command's module (~5 MB of RSS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli import _run_words


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["run"], (False, None)),
        (["run", "--once"], (True, None)),
        (["--config", "c.toml", "run"], (False, "c.toml")),
        (["--config=c.toml", "run", "--once"], (True, "c.toml")),
        (["run", "--once", "--config", "d.toml"], (True, "d.toml")),
        (["--once", "run"], None),
        (["run", "--help"], None),
        (["run", "--config"], None),
        (["run", "run"], None),
        (["status"], None),
        ([], None),
    ],
)
def test_run_words(words: list[str], expected: tuple[bool, str | None] | None) -> None:
    """Only plain ``run`` calls skip argparse; anything else gets its errors and help."""
    assert _run_words(words) == expected


_PROBE = """
import sys
from collector.cli import main
code = main(["run", "--once"])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join([str(code), *sorted(sys.modules)]))
"""


def _modules_of_run_once(home: Path) -> set[str]:
    """The modules a ``run --once`` in an empty ``home`` had loaded when it returned 0."""
    report = home / "modules.txt"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "AGENT_VIZ", "NOTIFY_SOCKET"))}  # fmt: skip
    env["HOME"] = str(home)
    subprocess.run([sys.executable, "-c", _PROBE, str(report)], env=env, capture_output=True,
                   timeout=60, check=True)  # fmt: skip
    code, *modules = report.read_text().splitlines()
    assert code == "0"
    assert "collector.service.daemon" in modules  # the probe ran the daemon
    return set(modules)


def test_the_daemon_loads_no_other_command(tmp_path: Path) -> None:
    others = {"collector.service.queries", "collector.table", "collector.dashboard.guard",
              "collector.reports.grouping", "importlib.metadata"}  # fmt: skip
    assert sorted(others & _modules_of_run_once(tmp_path)) == []


def test_run_once_loads_only_what_it_starts(tmp_path: Path) -> None:
    """``run --once`` starts no watcher, no session tracker, no sink and talks to no service
    manager: their modules (and argparse, the TOML reader without a config file, ctypes for
    ``malloc_trim``, importlib.resources for the schema) stay unloaded, start-up time that
    counts against ``ccusage session`` (bench/bench_ccusage.py)."""
    unwanted = {"collector.tracker.session_tracker", "collector.ingest.watch", "watchdog",
                "collector.sinks.machine", "argparse", "tomllib", "socket", "ctypes",
                "subprocess", "importlib.resources"}  # fmt: skip
    assert sorted(unwanted & _modules_of_run_once(tmp_path)) == []
