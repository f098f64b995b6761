"""The agents table is the one place that lists the agents (README "Adding an agent").

A toy agent is added exactly as the README says, one parser module plus one row, and every part
of the product then knows it: the config's ``[sources.toy]`` (documented once, generically, in
config/example.toml), the path classifier, the parser choice, the tracker's process recognition,
the CLI's ``--agent`` value, ``check-config``'s listing, and, end to end, the real daemon
(``run --once`` as a subprocess) storing its rows. The end-to-end test applies the recipe to a
copy of the packages and checks that the copy differs from this tree in exactly those two files.
"""

from __future__ import annotations

import os
import re
import shutil
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
def toy_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table with the toy's row appended."""
    monkeypatch.setattr(agents, "AGENTS", (*agents.AGENTS, TOY))


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
    # The contract's four come first; a row added later needs no edit here.
    assert names[:4] == ("claude-code", "codex", "copilot", "gemini")
    assert len(set(names)) == len(names)
    spellings = [a for row in agents.AGENTS for a in row.aliases]
    assert len(set(spellings)) == len(spellings)
    assert not set(spellings) & set(names)


def _documented_sources_table() -> str:
    """The example config's one generic ``[sources.<agent>]`` block, uncommented."""
    text = (REPO / "config" / "example.toml").read_text()
    block = re.search(r"^# \[sources\.<agent>\]\n(?:# \w+ = .*\n)+", text, re.MULTILINE)
    assert block is not None, "config/example.toml documents [sources.<agent>] once"
    return "\n".join(line.removeprefix("# ") for line in block.group().splitlines())


@pytest.mark.parametrize("with_toy", [False, True])
def test_example_config_documents_sources_once_for_every_row(
    with_toy: bool, toy_row: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example lists no agent (nothing there to keep in step with the table); its generic
    block, written for each row of the table (the toy's too), is a valid config."""
    if not with_toy:
        monkeypatch.setattr(agents, "AGENTS", agents.AGENTS[:-1])
    example = tomllib.loads((REPO / "config" / "example.toml").read_text())
    assert "sources" not in example
    block = _documented_sources_table()
    assert set(re.findall(r"^(\w+) =", block, re.MULTILINE)) == {"enabled", "root"}
    for row in agents.AGENTS:
        text = block.replace("<agent>", row.name).replace("enabled = true", "enabled = false")
        path = tmp_path / f"{row.name}.toml"
        path.write_text(text)
        config = load_config(path, {"HOME": str(tmp_path / "home")})
        assert config.sources[row.name].enabled is False
        assert config.sources[row.name].root == Path("~/path/to/transcripts").expanduser()
        others = [c.enabled for name, c in config.sources.items() if name != row.name]
        assert others == [a.enabled for a in agents.AGENTS if a.name != row.name]


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


# The recipe's row as it is typed into config/agents.py (the parser now lives in the package).
TOY_ROW = """\
    Agent(
        "toy", ".toy", "logs", "collector.parsers.toy:ToyParser",
        "collector.parsers.toy:classify_toy", home_env="TOY_HOME", binaries=("toy",),
    ),
"""
PACKAGES = ("collector", "store", "config")


def _apply_recipe(tree: Path) -> set[str]:
    """Copy the packages to ``tree``, add the toy as the README says; return what differs."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (tree / "collector" / "parsers" / "toy.py").write_text(textwrap.dedent(TOY_PARSER))
    table = tree / "config" / "agents.py"
    text = table.read_text()
    end = text.index(")  # fmt: skip\n")
    table.write_text(text[:end] + TOY_ROW + text[end:])
    return {
        str(path.relative_to(tree))
        for package in PACKAGES
        for path in (tree / package).rglob("*")
        if path.is_file()
        and (
            not (REPO / path.relative_to(tree)).is_file()
            or (REPO / path.relative_to(tree)).read_bytes() != path.read_bytes()
        )
    }


def test_the_recipe_is_a_parser_module_and_a_row(tmp_path: Path) -> None:
    """The README's recipe applied to a copy of the packages touches two files (its tests are
    the third), and the real daemon (``run --once``, a subprocess running the copy) stores the
    toy's rows while ``check-config`` lists its ``[sources.toy]`` table."""
    tree = tmp_path / "tree"
    assert _apply_recipe(tree) == {"collector/parsers/toy.py", "config/agents.py"}
    home = tmp_path / "home"
    transcript = home / ".toy" / "logs" / "proj" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    with transcript.open("wb") as out:
        out.writelines(LINES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env.update(HOME=str(home), PYTHONPATH=str(tree))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "collector.cli", *args], env=env, cwd=tree,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    shown = cli("check-config")
    assert shown.returncode == 0, shown.stderr
    assert f'[sources.toy]\nenabled = true\nroot = "{transcript.parents[1]}"\n' in shown.stdout
    done = cli("run", "--once")
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
