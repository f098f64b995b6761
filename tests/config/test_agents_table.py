"""The agents table is the one place that lists the agents (README "Adding an agent").

A toy agent is added exactly as the README says, one parser file plus one row, and every part
of the product then knows it: the config's ``[sources.toy]``, the path classifier, the parser
choice, the tracker's process recognition, the CLI's ``--agent`` value, and, end to end, the
real daemon (``run --once`` as a subprocess) storing its rows.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from collector.parsers import make_parser
from collector.parsers.sources import classify
from collector.service.filters import agent_value
from collector.tracker.process import recognize_agent
from config import agents, load_config
from config.agents import Agent
from config.paths import source_roots

REPO = Path(__file__).resolve().parents[2]

# The one parser file a new agent brings: a line ``{"id", "ts", "text"}`` is one message.
TOY_PARSER = """
from __future__ import annotations

from typing import Any

import orjson

from collector.parsers.base import DEFAULT_OPTIONS, ParserOptions
from collector.parsers.sources import SourceFile
from store.records import Event, ParseProblem, Record, SessionInfo
from store.timestamps import normalize_timestamp


def classify_toy(path: str, parts: tuple[str, ...]) -> SourceFile | None:
    name = parts[-1]
    if not name.endswith(".jsonl"):
        return None
    return SourceFile(agent="toy", path=path, session_id=f"toy:{name[:-6]}")


class ToyParser:
    def __init__(self, source: SourceFile, state: dict[str, Any] | None = None,
                 options: ParserOptions = DEFAULT_OPTIONS,
                 sidecar: dict[str, Any] | None = None) -> None:
        self.source = source
        self.told = bool(state and state.get("told"))

    def parse_line(self, line: bytes, offset: int) -> list[Record]:
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            return [ParseProblem(self.source.path, offset, "invalid JSON", line[:40].decode())]
        out: list[Record] = []
        if not self.told:
            self.told = True
            out.append(SessionInfo(self.source.session_id, "toy", self.source.path))
        out.append(Event(self.source.session_id, str(item["id"]),
                         normalize_timestamp(item["ts"]) or "", "message",
                         source_offset=offset))
        return out

    def parse_document(self, data: bytes) -> list[Record]:
        return []

    def state(self) -> dict[str, Any]:
        return {"told": self.told}
"""

# The one row: what the README's recipe adds to config/agents.py's AGENTS.
TOY = Agent(
    "toy", ".toy", "logs", "toy_agent:ToyParser", "toy_agent:classify_toy",
    home_env="TOY_HOME", binaries=("toy",), packages=("/@example/toy/",), aliases=("toy-cli",),
)  # fmt: skip

LINES = [
    b'{"id": 1, "ts": "2026-01-02T03:04:05Z", "text": "hello"}\n',
    b'{"id": 2, "ts": "2026-01-02T03:04:06Z", "text": "again"}\n',
]


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy parser file on the import path and its row in the table; returns the folder."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "toy_agent.py").write_text(textwrap.dedent(TOY_PARSER))
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setattr(agents, "AGENTS", (*agents.AGENTS, TOY))
    return code


def test_the_table_names_each_agent_once() -> None:
    names = agents.names()
    assert names == ("claude-code", "codex", "copilot", "gemini")
    assert len(set(names)) == len(names)
    spellings = [a for row in agents.AGENTS for a in row.aliases]
    assert len(set(spellings)) == len(spellings)
    assert not set(spellings) & set(names)


def test_example_config_has_one_sources_table_per_row() -> None:
    example = tomllib.loads((REPO / "config" / "example.toml").read_text())
    assert tuple(example["sources"]) == agents.names()
    text = (REPO / "config" / "example.toml").read_text()
    for row in agents.AGENTS:
        root = f"~/{row.home}/{row.transcripts}"
        assert re.search(rf'# root = "{re.escape(root)}"', text), row.name


def test_a_row_is_all_the_product_needs(toy: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home")}
    assert source_roots(env)["toy"] == tmp_path / "home" / ".toy" / "logs"
    assert source_roots({**env, "TOY_HOME": "/elsewhere"})["toy"] == Path("/elsewhere/logs")
    config = load_config(None, {**env, "AGENT_VIZ_MONITOR_SOURCES__TOY__ENABLED": "false"})
    assert config.sources["toy"].enabled is False
    assert config.sources["toy"].root == tmp_path / "home" / ".toy" / "logs"
    source = classify("toy", "/r", "/r/a/s1.jsonl")
    assert source is not None
    assert source.session_id == "toy:s1"
    assert classify("toy", "/r", "/r/a/s1.txt") is None
    parser = make_parser(source)
    assert [type(r).__name__ for r in parser.parse_line(LINES[0].rstrip(), 0)] == [
        "SessionInfo", "Event",
    ]  # fmt: skip
    assert recognize_agent(["/usr/local/bin/toy", "--fast"]) == "toy"
    assert recognize_agent(["node", "/usr/lib/node_modules/@example/toy/cli.js"]) == "toy"
    assert agent_value("TOY-CLI") == "toy"


def test_an_unknown_agent_is_not_a_transcript() -> None:
    assert classify("nobody", "/r", "/r/s.jsonl") is None


def test_the_daemon_stores_a_toy_agents_rows(toy: Path, tmp_path: Path) -> None:
    """``run --once`` in a real subprocess that adds the row the way the table is read."""
    home = tmp_path / "home"
    transcript = home / ".toy" / "logs" / "proj" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    with transcript.open("wb") as out:
        out.writelines(LINES)
    launcher = toy / "launch.py"
    launcher.write_text(
        textwrap.dedent("""
        import sys
        from config import agents
        from config.agents import Agent
        agents.AGENTS = (*agents.AGENTS, Agent(*sys.argv[1:6]))
        from collector.cli import main
        sys.exit(main(sys.argv[6:]))
    """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([str(toy), str(REPO)]))
    row = [TOY.name, TOY.home, TOY.transcripts, TOY.parser, TOY.classify]
    done = subprocess.run([sys.executable, str(launcher), *row, "run", "--once"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    database = home / ".local" / "share" / "agent-viz-monitor" / "events.db"
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        sessions = conn.execute("SELECT id, session_key, agent FROM sessions").fetchall()
        events = conn.execute("SELECT session_id, agent_event_id, event_type, timestamp "
                              "FROM events ORDER BY agent_event_id").fetchall()  # fmt: skip
        offset = conn.execute("SELECT offset FROM files WHERE path = ?",
                              (str(transcript),)).fetchone()  # fmt: skip
    finally:
        conn.close()
    [(sid, key, agent)] = sessions
    assert (key, agent) == ("toy:s1", "toy")
    assert events == [
        (sid, "1", "message", "2026-01-02T03:04:05.000Z"),
        (sid, "2", "message", "2026-01-02T03:04:06.000Z"),
    ]
    assert offset == (sum(len(line) for line in LINES),)


def test_the_usage_view_counts_reasoning_beside_output_for_the_same_agents() -> None:
    """``usage_daily`` is SQL and cannot read the table: a row that sets the flag needs the
    view (a migration) too, and this says so."""
    schema = (REPO / "store" / "schema.sql").read_text()
    in_view = set(
        re.findall(r"WHEN s\.agent = '([^']+)' THEN COALESCE\(e\.reasoning_tokens", schema)
    )
    assert in_view == {a.name for a in agents.AGENTS if a.reasoning_beside_output}
    assert agents.reasoning_beside_output("gemini")
    assert not agents.reasoning_beside_output("codex")
    assert not agents.reasoning_beside_output(None)
