"""The fast hook entry (``python -P -m collector.hooks.hook_call hook``): the same results as the
stdlib and the config it stands in for, the installed command run as Claude Code runs it, and
its start-up limited to the stdlib."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.hooks import hook_call
from collector.hooks.hook import hook_command, merge_hooks, remove_hooks
from collector.tracker import procfs
from collector.tracker.process import recognize_agent
from config import agents, paths

_OLD_INTERPRETER = re.compile(r"^(node|nodejs|bun|deno|python[0-9.]*)(\.exe)?$")
PAYLOAD = {"session_id": "3f0e2b7a-1111-4222-8333-944455556666", "hook_event_name": "Stop",
           "transcript_path": "/h/.claude/projects/-w/3f0e2b7a.jsonl", "cwd": "/w",
           "prompt": "SECRET PROMPT TEXT"}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
record_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


class TestCodec:
    """The C scanner and quoting give what ``json`` gives, without importing it."""

    @given(json_values, st.sampled_from(["", " ", "\n", " \r\n\t"]))
    def test_loads_agrees_with_json(self, value: Any, pad: str) -> None:
        data = (pad + json.dumps(value, ensure_ascii=False) + pad).encode()
        assert hook_call.loads(data) == json.loads(data)

    @given(record_values)
    def test_dumps_agrees_with_json(self, value: Any) -> None:
        assert hook_call.dumps(value) == json.dumps(value, separators=(",", ":"))

    @pytest.mark.parametrize(
        "data",
        [b"", b"   ", b'{"a": 1', b'{"a": 1} x', b"\xff{}", b'{"a": "\xe2\x82"}', b"nul"],
    )
    def test_loads_refuses_what_json_refuses(self, data: bytes) -> None:
        for loads in (json.loads, hook_call.loads):
            with pytest.raises(ValueError, match=r"."):  # JSONDecodeError, UnicodeDecodeError
                loads(data)

    def test_constants_and_bom(self) -> None:
        assert math.isnan(hook_call.loads(b"NaN"))
        assert hook_call.loads(b"[Infinity, -Infinity]") == [math.inf, -math.inf]
        assert hook_call.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}

    def test_read_payload_stops_at_the_first_whole_document(self) -> None:
        """Two writes, the pipe left open: the object once both halves are in."""
        read, write = os.pipe()
        try:
            text = json.dumps(PAYLOAD).encode()
            os.write(write, text[:20])
            os.write(write, text[20:])
            assert hook_call.read_payload(5.0, read) == PAYLOAD
            assert hook_call.read_payload(0.05, read) == {}  # nothing more: the deadline
        finally:
            os.close(read)
            os.close(write)


class TestStandIns:
    """The values the hook keeps to stay light equal the ones they stand in for."""

    def test_claude_names_match_the_agents_table(self) -> None:
        [claude] = [a for a in agents.AGENTS if a.name == hook_call.CLAUDE[0]]
        assert (claude.binaries, claude.packages) == hook_call.CLAUDE[1:]
        assert (hook_call.APP, hook_call.ENV_PREFIX) == (paths.APP, paths.ENV_PREFIX)

    @pytest.mark.parametrize(
        "name",
        ["node", "nodejs", "bun", "deno", "python", "python3", "python3.11", "python.exe",
         "python3.11.exe", "node.exe", "node.exe.exe", "pythonx", "nodes", "py", "", "deno2",
         "python3.", "bash", "NODE"],
    )  # fmt: skip
    def test_interpreter_test_equals_the_old_pattern(self, name: str) -> None:
        assert procfs.is_interpreter(name) is bool(_OLD_INTERPRETER.match(name))

    @pytest.mark.parametrize(
        "argv",
        [["claude"], ["/u/bin/claude", "-p", "x"], ["node", "/l/@anthropic-ai/claude-code/cli.js"],
         ["bun", "--smol", "/x/claude.js"], ["codex"], ["node", "server.js"], ["vim", "claude"],
         ["python", "-m", "claude"], [], [""], ["node"]],
    )  # fmt: skip
    def test_claude_only_recognition_agrees(self, argv: list[str]) -> None:
        name, binaries, packages = hook_call.CLAUDE
        mine = procfs.agent_of_argv(argv, dict.fromkeys(binaries, name),
                                    [(m, name) for m in packages])  # fmt: skip
        expected = recognize_agent(argv)
        assert mine == (expected if expected == name else None)

    @pytest.mark.parametrize(
        "env",
        [{"HOME": "/h"}, {"HOME": "/h", "XDG_DATA_HOME": "/d"},
         {"HOME": "/h", "XDG_DATA_HOME": "rel/d"}, {"HOME": "/h", "XDG_DATA_HOME": ""}],
    )  # fmt: skip
    def test_default_spool_folder_equals_config_paths(self, env: dict[str, str]) -> None:
        expected = paths.spool_dir(paths.database_file(env))
        assert Path(hook_call.spool_folder(None, env)) == expected

    def test_a_config_file_is_read(self, tmp_path: Path) -> None:
        config = tmp_path / ".config" / "agent-viz-monitor" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'[store]\npath = "{tmp_path / "x" / "a.db"}"\n')
        assert hook_call.spool_folder(None, {"HOME": str(tmp_path)}) == str(tmp_path / "x/spool")


def _settings_command() -> str:
    settings: dict[str, Any] = {}
    merge_hooks(settings, hook_command(None))
    return str(settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"])


class TestInstalledCommand:
    """What ``install-hooks`` writes, run through ``sh -c`` as Claude Code runs it."""

    def test_runs_from_a_project_with_its_own_config_package(self, tmp_path: Path) -> None:
        """Claude Code runs hooks in the project folder; a ``config`` or ``collector`` package
        there must not shadow ours (``-P``)."""
        project = tmp_path / "project"
        for name in ("config", "collector"):
            (project / name).mkdir(parents=True)
            (project / name / "__init__.py").write_text("raise SystemExit('shadowed')\n")
        env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c"),
               "XDG_DATA_HOME": str(tmp_path / "d")}  # fmt: skip
        (tmp_path / "c" / "agent-viz-monitor").mkdir(parents=True)  # a config: loads config/
        (tmp_path / "c" / "agent-viz-monitor" / "config.toml").write_text("[store]\n")
        done = subprocess.run(["/bin/sh", "-c", _settings_command()], cwd=project,
                              input=json.dumps(PAYLOAD).encode(), env=env, capture_output=True,
                              timeout=30, check=False)  # fmt: skip
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        [record] = [json.loads(p.read_bytes()) for p in
                    (tmp_path / "d" / "agent-viz-monitor" / "spool").glob("*.json")]  # fmt: skip
        assert record["session_id"] == PAYLOAD["session_id"]
        assert "SECRET" not in json.dumps(record)

    def test_old_and_new_commands_are_both_ours(self) -> None:
        """An older ``agent-viz-monitor hook`` entry is rewritten to the new command, and
        ``uninstall-hooks`` removes either form."""
        old = "/old/venv/bin/agent-viz-monitor hook"
        settings = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": old}]}]}}
        merge_hooks(settings, hook_command(None))
        [entry] = settings["hooks"]["Stop"][0]["hooks"]
        assert entry["command"] == hook_command(None)
        assert "collector.hooks.hook_call" in entry["command"]
        assert remove_hooks(settings) != []
        assert settings["hooks"] == {}

    def test_words_other_than_a_hook_go_to_the_full_command_line(self, tmp_path: Path) -> None:
        done = subprocess.run([sys.executable, "-P", "-m", "collector.hooks.hook_call",
                               "--version"], capture_output=True, text=True, timeout=30,
                              check=False)  # fmt: skip
        assert done.returncode == 0
        assert done.stdout.startswith("agent-viz-monitor ")


_PROBE = """
import runpy, sys
sys.argv = ["hook_call", "hook"]
try:
    runpy.run_module("collector.hooks.hook_call", run_name="__main__")
except SystemExit as stop:
    code = stop.code
with open(REPORT, "w") as out:
    out.write("\\n".join([str(code), *sorted(sys.modules)]))
"""
# Modules the interpreter, runpy and the hook itself need; anything else is a regression.
_EXPECTED_EXTRA = {"collector", "collector.atomic", "collector.tracker", "collector.tracker.procfs",
                   "collector.tracker.spool", "collector.hooks", "collector.hooks.hook_call",
                   "select", "_json", "__future__"}  # fmt: skip


def test_hook_loads_only_the_stdlib_it_needs(tmp_path: Path) -> None:
    """Nothing beyond ``_EXPECTED_EXTRA``: no ``re``, ``json``, ``pathlib``, ``typing``,
    ``dataclasses``, config or store, each of which costs the hook milliseconds on every Claude
    Code hook event (issue 16)."""
    report = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env["HOME"] = str(tmp_path)
    probe = _PROBE.replace("REPORT", repr(str(report)))
    baseline = subprocess.run([sys.executable, "-P", "-c", "import runpy, sys; "
                               "print('\\n'.join(sys.modules))"], env=env, capture_output=True,
                              text=True, timeout=30, check=True).stdout.split()  # fmt: skip
    subprocess.run([sys.executable, "-P", "-c", probe], input=json.dumps(PAYLOAD).encode(),
                   env=env, capture_output=True, timeout=30, check=True)  # fmt: skip
    code, *modules = report.read_text().splitlines()
    assert code == "0"
    extra = set(modules) - set(baseline) - _EXPECTED_EXTRA
    assert sorted(extra) == ["encodings.utf_8_sig"]  # the payload's decoding
    assert list((tmp_path / ".local/share/agent-viz-monitor/spool").glob("*.json"))
