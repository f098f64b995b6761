"""The query commands as a person uses them, option by option, over a store filled by
``run --once`` from every fixture of the four agents. Expected values come from the fixture
lines or from the rows' own JSON, never from the code under test."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.cli import _parser
from tests.collector.service.daemon_harness import Instance
from tests.collector.service.fixture_home import lay_out


class Filled:
    """One instance holding every fixture, ingested once for the module."""

    def __init__(self, root: Path) -> None:
        self.instance = Instance(root)
        self.roots = lay_out(self.instance)
        done = self.instance.run("run", "--once")
        assert done.returncode == 0, done.stderr
        self.files = {agent: sorted(p for p in root.rglob("*.json*") if p.name != "logs.json"
                                    and not p.name.endswith(".meta.json"))
                      for agent, root in self.roots.items()}  # fmt: skip

    def run(self, *args: str, columns: int | None = None) -> Any:
        if columns is not None:
            self.instance.env["COLUMNS"] = str(columns)
        try:
            return self.instance.run(*args)
        finally:
            self.instance.env.pop("COLUMNS", None)

    def json(self, *args: str) -> Any:
        done = self.instance.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return Filled(tmp_path_factory.mktemp("cli"))


def transcript_count(filled: Filled) -> int:
    return sum(len(files) for files in filled.files.values())


class TestEventsOrder:
    """Newest first, like git log; --oldest for time order."""

    def test_newest_first_by_default(self, filled: Filled) -> None:
        rows = filled.json("events")
        assert len(rows) == 100
        stamps = [r["timestamp"] for r in rows]
        assert stamps == sorted(stamps, reverse=True)
        newest = filled.instance.query("SELECT MAX(timestamp) FROM events")[0][0]
        assert stamps[0] == newest

    def test_oldest_gives_time_order(self, filled: Filled) -> None:
        rows = filled.json("events", "--oldest", "--limit", "50")
        stamps = [r["timestamp"] for r in rows]
        assert stamps == sorted(stamps)
        assert stamps[0] == filled.instance.query("SELECT MIN(timestamp) FROM events")[0][0]

    def test_a_cut_list_says_so(self, filled: Filled) -> None:
        done = filled.run("events", "--limit", "5")
        assert done.returncode == 0
        assert len(done.stdout.splitlines()) == 6  # header + 5
        assert "5 events shown (--limit N for more)" in done.stderr


class TestSessionsList:
    """Every transcript is a session; the cut says N of M; activity order, nulls last."""

    def test_n_of_m_shown(self, filled: Filled) -> None:
        total = filled.instance.query("SELECT COUNT(*) FROM sessions")[0][0]
        assert total > 50  # the fixtures plus announced subagents
        done = filled.run("sessions")
        assert f"50 of {total} sessions shown (--limit N / --all)" in done.stderr
        assert len(done.stdout.splitlines()) == 51
        assert len(filled.json("sessions", "--all")) == total
        assert filled.run("sessions", "--all").stderr == ""

    def test_latest_activity_first_nulls_last(self, filled: Filled) -> None:
        rows = filled.json("sessions", "--all")
        active = [r["last_activity"] for r in rows if r["last_activity"] is not None]
        assert active == sorted(active, reverse=True)
        seen_null = False
        for row in rows:
            seen_null = seen_null or row["last_activity"] is None
            assert not (seen_null and row["last_activity"] is not None)

    def test_every_transcript_is_a_session(self, filled: Filled) -> None:
        paths = {r["transcript_path"] for r in filled.json("sessions", "--all")}
        assert {str(p) for files in filled.files.values() for p in files} <= paths


BAD_VALUES = [
    (("events", "--type", "bogus"), "--type", ["file_op", "command", "usage", "message"]),
    (("events", "--status", "bogus"), "--status", ["pending", "success", "error"]),
    (("sessions", "--status", "bogus"), "--status", ["running", "completed", "unknown"]),
    (("events", "--agent", "bogus"), "--agent", ["claude-code", "codex", "copilot", "gemini"]),
    (("sessions", "--agent", "bogus"), "--agent", ["claude-code", "codex", "copilot", "gemini"]),
    (("events", "--category", "bogus"), "--category", ["test", "build", "git"]),
    (("events", "--since", "bogus"), "--since", ["30m", "yesterday", "YYYY-MM-DD"]),
    (("events", "--until", "soon"), "--until", ["30m", "today", "ISO"]),
    (("sessions", "--since", "last week"), "--since", ["2h", "7d"]),
]


@pytest.mark.parametrize(("args", "option", "valid"), BAD_VALUES)
def test_unknown_values_exit_2_naming_the_valid_ones(
    filled: Filled, args: tuple[str, ...], option: str, valid: list[str]
) -> None:
    done = filled.run(*args)
    assert done.returncode == 2
    assert option in done.stderr
    assert all(v in done.stderr for v in valid), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


class TestAgentFilter:
    """--agent on sessions and events; claude is claude-code."""

    @pytest.mark.parametrize("name", ["claude", "claude-code", "CLAUDE"])
    def test_claude_alias(self, filled: Filled, name: str) -> None:
        sessions = filled.json("sessions", "--all", "--agent", name)
        expected = filled.instance.query(
            "SELECT COUNT(*) FROM sessions WHERE agent = 'claude-code'")[0][0]  # fmt: skip
        assert len(sessions) == expected > 0
        events = filled.json("events", "--agent", name, "--limit", "100000")
        ids = {r["id"] for r in sessions}
        assert {e["session_id"] for e in events} <= ids
        count = filled.instance.query(
            "SELECT COUNT(*) FROM events e JOIN sessions s ON s.id = e.session_id "
            "WHERE s.agent = 'claude-code'")[0][0]  # fmt: skip
        assert len(events) == count

    @pytest.mark.parametrize("agent", ["codex", "copilot", "gemini"])
    def test_each_agent(self, filled: Filled, agent: str) -> None:
        rows = filled.json("sessions", "--all", "--agent", agent)
        assert {r["agent"] for r in rows} == {agent}
        assert len([r for r in rows if r["transcript_path"]]) == len(filled.files[agent])


class TestSessionPrefix:
    """--session takes a unique prefix of the key or of the agent's session id."""

    def test_unique_prefix_of_the_key(self, filled: Filled) -> None:
        want = filled.json("sessions", "--all", "--agent", "codex")
        row = next(r for r in want if "simonw" in r["session_key"])
        for ref in ("simonw", "codex:simonw-codex", str(row["id"]), row["session_key"]):
            events = filled.json("events", "--session", ref, "--limit", "1000")
            assert events
            assert {e["session_id"] for e in events} == {row["id"]}

    def test_unique_prefix_of_the_agent_session_id(self, filled: Filled) -> None:
        rows = filled.json("sessions", "--all", "--agent", "copilot")
        row = next(r for r in rows if r["agent_session_id"] and r["agent_session_id"][0] == "0")
        done = filled.json("files", "--session", row["agent_session_id"][:6])
        assert {r["session_id"] for r in done} <= {row["id"]}

    def test_ambiguous_prefix_lists_candidates(self, filled: Filled) -> None:
        done = filled.run("events", "--session", "drm-")
        assert done.returncode == 2
        assert "ambiguous" in done.stderr
        for name in ("drm-hello-world-script", "drm-coverage-test-fix"):
            assert name in done.stderr

    def test_no_match(self, filled: Filled) -> None:
        done = filled.run("commands", "--session", "zzz-nothing")
        assert done.returncode == 2
        assert "no session matches" in done.stderr


class TestTimes:
    """--since/--until accept relative spans, day words, dates and ISO times."""

    def test_forms(self, filled: Filled) -> None:
        stamps = sorted(r["timestamp"] for r in filled.json("events", "--limit", "100000"))
        middle = stamps[len(stamps) // 2]
        later = filled.json("events", "--since", middle, "--limit", "100000")
        assert len(later) == sum(1 for s in stamps if s >= middle)
        now = datetime.now().astimezone()
        yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time())
        for spec, since in (
            ("1h", now - timedelta(hours=1)),
            ("yesterday", yesterday.astimezone()),
        ):
            # Counted independently of timespec, so recently recorded fixtures are fine too.
            expected = sum(
                1 for s in stamps if datetime.fromisoformat(s.replace("Z", "+00:00")) >= since
            )
            got = filled.json("events", "--since", spec, "--limit", "100000")
            assert len(got) == expected
        day = datetime.fromisoformat(middle.replace("Z", "+00:00")).astimezone().date()
        start = datetime.combine(day, datetime.min.time()).astimezone()
        end = start + timedelta(days=1)
        rows = filled.json("events", "--since", day.isoformat(), "--until", day.isoformat(),
                           "--limit", "100000")  # fmt: skip
        inside = [s for s in stamps
                  if start <= datetime.fromisoformat(s.replace("Z", "+00:00")) < end]  # fmt: skip
        assert len(rows) == len(inside) > 0
        compact = filled.json("events", "--since", day.strftime("%Y%m%d"), "--limit", "100000")
        assert len(compact) == sum(
            1 for s in stamps if datetime.fromisoformat(s.replace("Z", "+00:00")) >= start
        )
        assert len(filled.json("sessions", "--all", "--since", "3000d")) > 0

    def test_help_names_the_forms(self, filled: Filled) -> None:
        text = filled.run("events", "--help").stdout
        for form in ("30m", "2h", "7d", "today", "yesterday", "YYYY-MM-DD"):
            assert form in text


class TestTables:
    """Tables fit the terminal; paths keep their file name; units and tokens are shown."""

    @pytest.mark.parametrize("columns", [60, 80, 120])
    def test_files_keep_the_file_name(self, filled: Filled, columns: int) -> None:
        rows = filled.json("files")
        table = filled.run("files", columns=columns).stdout.splitlines()
        assert len(table) == len(rows) + 1
        assert all(len(line) <= columns for line in table)
        for row, line in zip(rows, table[1:], strict=True):
            path = row["file_path"]
            name = path.rstrip("/").rpartition("/")[2] + ("/" if path.endswith("/") else "")
            cell = line.split()[1]
            assert cell == path or (
                "…" in cell and (cell.endswith("/" + name) or _middle_of(cell, name))
            ), (cell, path)

    def test_commands_durations_percentiles_failure_rate(self, filled: Filled) -> None:
        rows = filled.json("commands")
        events = filled.json("events", "--type", "command", "--limit", "100000")
        for row in rows:
            mine = [e for e in events if e["session_id"] == row["session_id"]
                    and e["command_category"] == row["command_category"]]  # fmt: skip
            durations = sorted(e["duration_ms"] for e in mine if e["duration_ms"] is not None)
            failures = sum(1 for e in mine if e["status"] == "error")
            assert row["count"] == len(mine)
            assert row["failure_rate"] == pytest.approx(failures / len(mine))
            assert row["p50_ms"] == _nearest_rank(durations, 50)
            assert row["p95_ms"] == _nearest_rank(durations, 95)
        table = filled.run("commands").stdout
        assert "p50" in table
        assert "p95" in table
        assert "fail %" in table
        assert re.search(r"\d(\.\d+)? (ms|s)\b", table)
        assert "1048.148" not in table

    def test_usage_rows_show_tokens(self, filled: Filled) -> None:
        rows = filled.json("events", "--type", "usage", "--limit", "20")
        table = filled.run("events", "--type", "usage", "--limit", "20", columns=200)
        lines = table.stdout.splitlines()[1:]
        for row, line in zip(rows, lines, strict=True):
            if row["input_tokens"]:
                assert f"in {row['input_tokens']:,}" in line
            if row["output_tokens"]:
                assert f"out {row['output_tokens']:,}" in line

    def test_message_previews_are_shown(self, filled: Filled) -> None:
        rows = filled.json("events", "--type", "message", "--limit", "30", "--agent", "claude")
        with_text = [r for r in rows if r["preview"]]
        assert with_text
        table = filled.run("events", "--type", "message", "--limit", "30", "--agent", "claude",
                           columns=250).stdout  # fmt: skip
        for row in with_text:
            role = row["tool_arguments"]["role"]
            words = " ".join(row["preview"].split())[:40]
            assert f"{role}: {words}" in table


def _middle_of(cell: str, name: str) -> bool:
    left, _, right = cell.partition("…")
    return name.startswith(left) and name.endswith(right)


def _nearest_rank(ordered: list[int], percent: int) -> int | None:
    if not ordered:
        return None
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


class TestCommandLine:
    """Help on every option, --version, and the hooks' commands."""

    def test_every_option_has_help(self) -> None:
        missing = []
        parser = _parser()
        subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        commands = subparsers[0].choices  # type: ignore[attr-defined]
        for name, sub in [("", parser), *commands.items()]:
            for action in sub._actions:
                if action.__class__.__name__ in ("_HelpAction", "_SubParsersAction"):
                    continue
                if not action.help:
                    missing.append(f"{name} {action.option_strings or action.dest}")
        assert missing == []

    def test_version(self, filled: Filled) -> None:
        done = filled.run("--version")
        assert done.returncode == 0
        assert re.fullmatch(r"agent-viz-monitor \d+\.\d+\S*\n", done.stdout)
