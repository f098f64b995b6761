"""``agent-viz-monitor hook`` and ``install-hooks`` as real subprocesses on an isolated HOME."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.hooks.hook import HOOK_EVENTS, database_for_hook, merge_hooks
from collector.hooks.hook_call import hook_words
from config import load_config
from config.paths import database_file, spool_dir
from tests.collector.service.daemon_harness import Instance, expect
from tests.collector.tracker.helpers import ClaudeTranscript, StandIn

DEADLINE = 1.0
STARTUP = 4.0  # interpreter start and imports on a slow CI machine


def spooled(instance: Instance) -> list[dict[str, Any]]:
    folder = spool_dir(instance.database)
    if not folder.exists():
        return []
    return [json.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))]


def payload(**extra: Any) -> dict[str, Any]:
    return {"session_id": "3f0e2b7a-1111-4222-8333-944455556666", "hook_event_name":
            "UserPromptSubmit", "transcript_path": "/h/.claude/projects/-w/3f0e2b7a.jsonl",
            "cwd": "/w", "permission_mode": "default", "prompt": "SECRET PROMPT TEXT",
            **extra}  # fmt: skip


def run_hook(instance: Instance, data: bytes) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    done = subprocess.run(instance.command("hook"), input=data, env=instance.env,
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    return done, time.monotonic() - started


class TestHookCommand:
    """Silent, bounded, exit 0 whatever happens; one spool record, no transcript text."""

    def test_payload_is_spooled_without_a_daemon(self, tmp_path: Path) -> None:
        """A real payload, no daemon and no database: exit 0, nothing printed, one record."""
        instance = Instance(tmp_path)
        done, took = run_hook(instance, json.dumps(payload()).encode())
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert took < DEADLINE + STARTUP
        assert not instance.database.exists()
        [record] = spooled(instance)
        assert record["kind"] == "hook"
        assert record["event"] == "UserPromptSubmit"
        assert record["session_id"] == payload()["session_id"]
        assert record["transcript_path"] == payload()["transcript_path"]
        assert record["cwd"] == "/w"
        assert record["identity"] is None  # run by the test, not by a Claude Code process
        assert "SECRET" not in json.dumps(record)

    def test_stdin_that_never_closes(self, tmp_path: Path) -> None:
        """Nothing ever arrives and stdin stays open: exit 0 within the deadline, silently."""
        instance = Instance(tmp_path)
        started = time.monotonic()
        proc = subprocess.Popen(instance.command("hook", "--timeout", str(DEADLINE)),
                                env=instance.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
        try:  # stdin is never written to nor closed while the hook runs
            proc.wait(DEADLINE + STARTUP + 5)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate()
        assert (proc.returncode, out, err) == (0, b"", b"")
        assert DEADLINE <= took < DEADLINE + STARTUP
        assert spooled(instance) == []

    def test_payload_arrives_but_stdin_stays_open(self, tmp_path: Path) -> None:
        """The JSON is used as soon as it parses, without waiting for an end of file."""
        instance = Instance(tmp_path)
        proc = subprocess.Popen(instance.command("hook", "--timeout", "20"), env=instance.env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(payload(hook_event_name="Stop")).encode())
            proc.stdin.flush()
            assert proc.wait(STARTUP + 5) == 0
        finally:
            proc.kill()
            out, err = proc.communicate()
        assert (out, err) == (b"", b"")
        assert [r["event"] for r in spooled(instance)] == ["Stop"]

    @pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'{"no": "session"}'])
    def test_unusable_input_spools_nothing(self, tmp_path: Path, data: bytes) -> None:
        """Empty, garbage or id-less input: exit 0, silent, no record."""
        instance = Instance(tmp_path)
        done, _ = run_hook(instance, data)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert spooled(instance) == []

    def test_unwritable_spool_and_broken_config(self, tmp_path: Path) -> None:
        """The data folder is a file and the config is invalid: still exit 0, silent."""
        instance = Instance(tmp_path)
        blocker = tmp_path / "data-is-a-file"
        blocker.write_text("")
        instance.env["XDG_DATA_HOME"] = str(blocker)
        instance.env["AGENT_VIZ_MONITOR_TRACKER__SCAN_INTERVAL"] = "not a number"
        done, took = run_hook(instance, json.dumps(payload()).encode())
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert took < DEADLINE + STARTUP

    def test_agent_pid_is_found_above_the_shell(self, tmp_path: Path) -> None:
        """Run by a stand-in Claude Code through ``sh -c``: the record names the agent."""
        instance = Instance(tmp_path)
        project = tmp_path / "proj"
        project.mkdir()
        env = dict(instance.env, STAND_IN_HOOK=" ".join(instance.command("hook")))
        agent = StandIn("claude", project, env=env)
        try:
            agent.hook(
                ClaudeTranscript(instance.claude, project).hook_payload(
                    "SessionStart", source="startup"
                )
            )
            [record] = expect(lambda: spooled(instance))
            assert record["identity"]["pid"] == agent.pid
            assert record["detail"] == "startup"
        finally:
            agent.close()


def settings_of(instance: Instance) -> Path:
    return instance.home / ".claude" / "settings.json"


class TestInstallHooks:
    """Idempotent merge into Claude Code's settings, with a backup."""

    def test_twice_leaves_one_entry_and_a_backup(self, tmp_path: Path) -> None:
        """Other keys and hooks stay; each event has exactly one of ours; one backup."""
        instance = Instance(tmp_path)
        path = settings_of(instance)
        path.parent.mkdir(parents=True)
        original = {"model": "opus", "hooks": {"Stop": [{"hooks": [
            {"type": "command", "command": "notify-send done"}]}]}}  # fmt: skip
        path.write_text(json.dumps(original))
        first = instance.run("install-hooks")
        assert first.returncode == 0, first.stderr
        second = instance.run("install-hooks")
        assert second.returncode == 0, second.stderr
        assert "already installed" in second.stdout
        settings = json.loads(path.read_text())
        assert settings["model"] == "opus"
        for event in HOOK_EVENTS:
            commands = [h["command"] for g in settings["hooks"][event] for h in g["hooks"]]
            ours = [c for c in commands if c.endswith(" hook")]
            assert len(ours) == 1, (event, commands)
        assert "notify-send done" in json.dumps(settings["hooks"]["Stop"])
        backups = list(path.parent.glob("settings.json.bak-*"))
        assert len(backups) == 1
        assert json.loads(backups[0].read_text()) == original

    def test_installed_command_runs_as_a_hook(self, tmp_path: Path) -> None:
        """The command written to the settings is a working hook."""
        instance = Instance(tmp_path)
        assert instance.run("install-hooks").returncode == 0
        settings = json.loads(settings_of(instance).read_text())
        command = settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
        data = json.dumps(payload()).encode()
        done = subprocess.run(["/bin/sh", "-c", command], input=data, env=instance.env,
                              capture_output=True, timeout=30, check=False)  # fmt: skip
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert len(spooled(instance)) == 1

    def test_invalid_settings_are_left_alone(self, tmp_path: Path) -> None:
        """Settings that are not JSON: exit 2 naming the file, file unchanged, no backup."""
        instance = Instance(tmp_path)
        path = settings_of(instance)
        path.parent.mkdir(parents=True)
        path.write_text("{ not json")
        done = instance.run("install-hooks")
        assert done.returncode == 2
        assert str(path) in done.stderr
        assert path.read_text() == "{ not json"
        assert list(path.parent.glob("*.bak-*")) == []


class TestMergeHooks:
    """The pure merge."""

    def test_updates_an_old_path_in_place(self) -> None:
        """A hook of an older installation is rewritten, not duplicated."""
        settings = {"hooks": {"SessionEnd": [{"hooks": [
            {"type": "command", "command": "/old/venv/bin/agent-viz-monitor hook"},
            {"type": "command", "command": "/other/agent-viz-monitor hook"}]}]}}  # fmt: skip
        changed = merge_hooks(settings, "/new/bin/agent-viz-monitor hook")
        assert set(changed) == set(HOOK_EVENTS)
        entries = settings["hooks"]["SessionEnd"][0]["hooks"]
        assert [e["command"] for e in entries] == ["/new/bin/agent-viz-monitor hook"]
        again = copy.deepcopy(settings)
        assert merge_hooks(again, "/new/bin/agent-viz-monitor hook") == []
        assert again == settings

    @pytest.mark.parametrize("bad", [{"hooks": []}, {"hooks": {"Stop": {"x": 1}}}])
    def test_refuses_shapes_it_does_not_understand(self, bad: dict[str, Any]) -> None:
        """Never rewrite what Claude Code would not accept."""
        with pytest.raises(ValueError, match="hooks"):
            merge_hooks(bad, "agent-viz-monitor hook")


# Modules the hook must not load: Claude Code waits for it on every hook event (issue 16).
HEAVY = (
    *("rich", "starlette", "uvicorn", "genai_prices", "psycopg", "orjson", "sqlite3", "argparse"),
    *("collector.parsers", "collector.service", "collector.dashboard", "collector.reports"),
    *("collector.sinks", "store", "config.model", "config.loader"),
)
_PROBE = """
import sys
from collector.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join([str(code), *sorted(sys.modules)]))
"""


def probe_hook(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, set[str]]:
    """Run ``main([*args])`` with a payload on stdin in a fresh interpreter: its exit code and
    every module it had loaded by the end."""
    report = tmp_path / "modules.txt"
    data = json.dumps(payload()).encode()
    subprocess.run([sys.executable, "-c", _PROBE, str(report), *args], input=data, env=env,
                   capture_output=True, timeout=30, check=True)  # fmt: skip
    code, *modules = report.read_text().splitlines()
    return int(code), set(modules)


def plain_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    return {**env, "HOME": str(home)}


class TestHookStartUp:
    """The hook path imports only what it needs: no command modules, no argparse, no config
    model when there is no config file, no store, no parsers."""

    def test_hook_loads_no_heavy_module(self, tmp_path: Path) -> None:
        env = plain_env(tmp_path)
        code, modules = probe_hook(tmp_path, env, "hook")
        heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or
                       any(m == h or m.startswith(h + ".") for h in HEAVY))  # fmt: skip
        assert code == 0
        assert heavy == []
        [record] = [json.loads(p.read_bytes()) for p in
                    (tmp_path / ".local/share/agent-viz-monitor/spool").glob("*.json")]  # fmt: skip
        assert record["session_id"] == payload()["session_id"]  # the hook did its work

    def test_other_commands_still_build_the_full_parser(self, tmp_path: Path) -> None:
        """The probe can fail: ``hook --help``-like forms and other commands load argparse."""
        _, modules = probe_hook(tmp_path, plain_env(tmp_path), "hook", "codex")
        assert "argparse" in modules


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["hook"], (1.0, None)),
        (["--config", "c.toml", "hook"], (1.0, "c.toml")),
        (["--config=c.toml", "hook", "claude", "--timeout", "2"], (2.0, "c.toml")),
        (["hook", "--timeout=0.5", "--config", "d.toml"], (0.5, "d.toml")),
        (["hook", "--help"], None),
        (["--timeout", "1", "hook"], None),
        (["hook", "codex"], None),
        (["hook", "--timeout"], None),
        (["hook", "--timeout=soon"], None),
        (["status"], None),
    ],
)
def test_hook_fast_path_words(words: list[str], expected: tuple[float, str] | None) -> None:
    """Only plain hook calls skip argparse; anything else gets argparse's errors and help."""
    assert hook_words(words) == expected


class TestHookDatabase:
    """The hook skips loading the config only where the config can only give the default."""

    def test_no_config_file_gives_the_default(self, tmp_path: Path) -> None:
        env = plain_env(tmp_path)
        assert database_for_hook(None, env) == load_config(None, env).store.path

    def test_config_file_and_override_are_honoured(self, tmp_path: Path) -> None:
        env = plain_env(tmp_path)
        config = tmp_path / ".config" / "agent-viz-monitor" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'[store]\npath = "{tmp_path / "a.db"}"\n')
        assert database_for_hook(None, env) == tmp_path / "a.db"
        assert database_for_hook(str(config), plain_env(tmp_path / "x")) == tmp_path / "a.db"
        config.unlink()
        env["agent_viz_monitor_store__path"] = str(tmp_path / "b.db")  # names are case-blind
        assert database_for_hook(None, env) == tmp_path / "b.db"

    def test_broken_config_gives_the_default(self, tmp_path: Path) -> None:
        env = plain_env(tmp_path)
        env["AGENT_VIZ_MONITOR_TRACKER__SCAN_INTERVAL"] = "not a number"
        assert database_for_hook(None, env) == database_file(env)
