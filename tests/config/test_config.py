"""Tests for config: default paths from HOME/XDG, the example file, every error message with
its file, line and dotted key, environment overrides, and ``check-config`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from config import Config, ConfigError, load_config
from config.agents import names
from config.loader import locate_key
from config.model import (
    CollectorConfig,
    LogConfig,
    SourceConfig,
    StoreConfig,
    TrackerConfig,
)
from config.paths import config_file, data_dir, database_file, home, source_roots, state_dir

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.toml"
BIN = Path(sys.executable).parent
PREFIX = "AGENT_VIZ_MONITOR_"
CONTRACT_AGENTS = ("claude-code", "codex", "copilot", "gemini")  # ../shared/CONTRACT.md "Paths"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME is an empty folder and nothing else is set."""
    user = tmp_path / "home"
    user.mkdir()
    return {"HOME": str(user)}


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env)
    return caught.value


class TestDefaultPaths:
    """Every default derives from HOME and the XDG variables (the contract's path table)."""

    def test_home_only(self, env: dict[str, str]) -> None:
        """With only HOME set, everything lives under it."""
        user = Path(env["HOME"])
        assert config_file(env) == user / ".config/agent-viz-monitor/config.toml"
        assert database_file(env) == user / ".local/share/agent-viz-monitor/events.db"
        assert data_dir(env) == user / ".local/share/agent-viz-monitor"
        assert state_dir(env) == user / ".local/state/agent-viz-monitor"
        roots = source_roots(env)
        assert set(roots) == set(names())
        assert {agent: roots[agent] for agent in CONTRACT_AGENTS} == {
            "claude-code": user / ".claude/projects",
            "codex": user / ".codex/sessions",
            "copilot": user / ".copilot/session-state",
            "gemini": user / ".gemini/tmp",
        }

    def test_loaded_defaults_home_only(self, env: dict[str, str]) -> None:
        """load_config without a file gives the same paths and the model's defaults."""
        user = Path(env["HOME"])
        config = load_config(None, env)
        assert config.store.path == user / ".local/share/agent-viz-monitor/events.db"
        assert {a: s.root for a, s in config.sources.items()} == source_roots(env)
        assert all(s.enabled for s in config.sources.values())
        assert config.collector == CollectorConfig()
        assert config.tracker == TrackerConfig()
        assert config.log == LogConfig()
        assert config.store.busy_timeout_ms == StoreConfig().busy_timeout_ms

    def test_isolated_under_home(self, env: dict[str, str]) -> None:
        """Every path of the effective config is inside HOME: an empty HOME is an isolated
        instance."""
        config = load_config(None, env)
        paths = [config.store.path, *(s.root for s in config.sources.values())]
        for path in paths:
            assert path.is_relative_to(env["HOME"]), path

    def test_xdg_and_agent_variables(self, tmp_path: Path, env: dict[str, str]) -> None:
        """XDG_CONFIG_HOME, XDG_DATA_HOME, CLAUDE_CONFIG_DIR and CODEX_HOME are honoured."""
        env.update(
            {
                "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
                "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
                "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
                "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
                "CODEX_HOME": str(tmp_path / "codex"),
            }
        )
        user = Path(env["HOME"])
        assert config_file(env) == tmp_path / "xdg-config/agent-viz-monitor/config.toml"
        assert database_file(env) == tmp_path / "xdg-data/agent-viz-monitor/events.db"
        assert state_dir(env) == tmp_path / "xdg-state/agent-viz-monitor"
        config = load_config(None, env)
        assert config.store.path == tmp_path / "xdg-data/agent-viz-monitor/events.db"
        assert config.sources["claude-code"].root == tmp_path / "claude/projects"
        assert config.sources["codex"].root == tmp_path / "codex/sessions"
        assert config.sources["copilot"].root == user / ".copilot/session-state"
        assert config.sources["gemini"].root == user / ".gemini/tmp"

    @pytest.mark.parametrize("value", ["relative/data", "./data", "~/data", ""])
    def test_relative_xdg_ignored(self, env: dict[str, str], value: str) -> None:
        """A relative (or empty) XDG value is invalid by the XDG spec and ignored."""
        env["XDG_DATA_HOME"] = value
        env["XDG_CONFIG_HOME"] = value
        user = Path(env["HOME"])
        assert database_file(env) == user / ".local/share/agent-viz-monitor/events.db"
        assert config_file(env) == user / ".config/agent-viz-monitor/config.toml"

    def test_home_falls_back_to_os(self) -> None:
        """Without HOME in the mapping, the OS's idea of home is used."""
        assert home({}) == Path(os.path.expanduser("~"))

    def test_default_file_is_read(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A file at $XDG_CONFIG_HOME/agent-viz-monitor/config.toml is used without --config."""
        env["XDG_CONFIG_HOME"] = str(tmp_path / "xc")
        path = tmp_path / "xc/agent-viz-monitor/config.toml"
        path.parent.mkdir(parents=True)
        path.write_text('[log]\nlevel = "debug"\n')
        config = load_config(None, env)
        assert config.log.level == "debug"
        assert config.source_file == str(path)


class TestFiles:
    """Which file is read, and what a missing one means."""

    def test_missing_default_means_defaults(self, env: dict[str, str]) -> None:
        """No file at the default location: all defaults, and source_file says it was absent."""
        config = load_config(None, env)
        assert config.collector == CollectorConfig()
        assert config.source_file is not None
        assert config.source_file.startswith(str(config_file(env)))
        assert "absent" in config.source_file

    def test_missing_explicit_is_error(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--config naming a file that does not exist is an error naming the file."""
        path = tmp_path / "nope.toml"
        error = load_error(path, env)
        assert str(path) in str(error)
        assert "does not exist" in str(error)

    def test_directory(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--config naming a folder is an error naming it."""
        error = load_error(tmp_path, env)
        assert str(tmp_path) in str(error)

    def test_not_utf8(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A file that is not UTF-8 is an error naming it."""
        path = tmp_path / "latin1.toml"
        path.write_bytes(b'[log]\nlevel = "d\xe9bug"\n')
        error = load_error(path, env)
        assert str(path) in str(error)
        assert "UTF-8" in str(error)

    def test_empty_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An empty file is valid and means defaults."""
        config = load_config(write(tmp_path, ""), env)
        assert config.collector == CollectorConfig()

    def test_example_equals_defaults(self, env: dict[str, str]) -> None:
        """config/example.toml loads and equals the defaults (it documents them)."""
        example = load_config(EXAMPLE, env)
        defaults = load_config(None, env)
        assert example.source_file == str(EXAMPLE)
        assert msgspec.structs.replace(example, source_file=None) == msgspec.structs.replace(
            defaults, source_file=None
        )

    def test_example_names_every_key(self) -> None:
        """Every setting of the model appears in the example (path/root as comments)."""
        text = EXAMPLE.read_text()
        for section in (StoreConfig, CollectorConfig, TrackerConfig, LogConfig):
            for field in msgspec.structs.fields(section):
                assert f"{field.name} =" in text, field.name
        assert "# [sources.<agent>]" in text  # once, generically (see test_agents_table.py)
        for field in msgspec.structs.fields(SourceConfig):
            assert f"# {field.name} =" in text, field.name

    def test_values_read(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Values from the file replace the defaults; paths expand ~ and stay Paths."""
        path = write(
            tmp_path,
            '[store]\npath = "/data/ev.db"\nbusy_timeout_ms = 100\n'
            "[collector]\nflush_interval_ms = 20\nforce_polling = true\nrescan_interval = 5\n"
            '[sources.gemini]\nenabled = false\nroot = "/g"\n'
            '[tracker]\nidle_after = 60.5\n[log]\nlevel = "warning"\nformat = "json"\n',
        )
        config = load_config(path, env)
        assert config.store == StoreConfig(path=Path("/data/ev.db"), busy_timeout_ms=100)
        assert config.collector.flush_interval_ms == 20
        assert config.collector.force_polling is True
        assert config.collector.rescan_interval == 5.0
        assert isinstance(config.collector.rescan_interval, float)
        assert config.sources["gemini"].enabled is False
        assert config.sources["gemini"].root == Path("/g")
        assert config.sources["codex"].root == source_roots(env)["codex"]
        assert config.tracker.idle_after == 60.5
        assert (config.log.level, config.log.format) == ("warning", "json")

    def test_to_dict_plain(self, env: dict[str, str]) -> None:
        """to_dict gives plain values (paths as strings) for every section."""
        plain = load_config(None, env).to_dict()
        assert set(plain) == {"store", "collector", "sources", "tracker", "log", "sinks", "privacy"}
        assert plain["store"]["path"] == str(database_file(env))
        assert set(plain["sources"]) == set(names())
        assert all(isinstance(s["root"], str) for s in plain["sources"].values())

    def test_config_is_frozen(self, env: dict[str, str]) -> None:
        """The effective config cannot be changed by accident."""
        config = load_config(None, env)
        with pytest.raises(AttributeError, match="immutable"):
            config.log = LogConfig()  # type: ignore[misc]


# (id, file text, line, dotted key, a fragment of the reason)
ERRORS = [
    ("unknown-top", "nope = 1\n", 1, "nope", "unknown key"),
    ("unknown-top-table", "[store]\n[nope]\nx = 1\n", 2, "nope", "unknown key"),
    ("unknown-store", "[store]\ncolour = 1\n", 2, "store.colour", "unknown key"),
    (
        "unknown-collector",
        "[collector]\n\nflush_interval = 1\n",
        3,
        "collector.flush_interval",
        "unknown key",
    ),
    (
        "unknown-tracker",
        "[tracker]\nenabled = true\nspeed = 2\n",
        3,
        "tracker.speed",
        "unknown key",
    ),
    ("unknown-log", '[log]\nlevel = "info"\nfile = "x"\n', 3, "log.file", "unknown key"),
    (
        "unknown-claude",
        '[sources.claude-code]\nroots = "/x"\n',
        2,
        "sources.claude-code.roots",
        "unknown key",
    ),
    (
        "unknown-codex",
        "[sources.codex]\nenabled = true\nroot2 = 1\n",
        3,
        "sources.codex.root2",
        "unknown key",
    ),
    (
        "unknown-copilot",
        "[sources.copilot]\nenable = true\n",
        2,
        "sources.copilot.enable",
        "unknown key",
    ),
    ("unknown-gemini", "\n[sources.gemini]\npath = 1\n", 3, "sources.gemini.path", "unknown key"),
    (
        "unknown-agent-header",
        "[sources.cursor]\nenabled = true\n",
        1,
        "sources.cursor",
        "unknown key",
    ),
    ("unknown-agent-key", "[sources]\ncursor = {}\n", 2, "sources.cursor", "unknown key"),
    (
        "unknown-agent-underscore",
        "[sources.claude_code]\nenabled = true\n",
        1,
        "sources.claude_code",
        "unknown key",
    ),
    (
        "string-for-int",
        '[collector]\nbatch_rows = "10"\n',
        2,
        "collector.batch_rows",
        "must be a number, got a string",
    ),
    (
        "float-for-int",
        "[collector]\nbatch_rows = 10.5\n",
        2,
        "collector.batch_rows",
        "whole number",
    ),
    (
        "bool-for-int",
        "[store]\nbusy_timeout_ms = true\n",
        2,
        "store.busy_timeout_ms",
        "got a boolean",
    ),
    (
        "string-for-float",
        '[tracker]\nidle_after = "5m"\n',
        2,
        "tracker.idle_after",
        "must be a number",
    ),
    (
        "int-for-bool",
        "[collector]\nforce_polling = 1\n",
        2,
        "collector.force_polling",
        "must be true or false, got an integer",
    ),
    (
        "string-for-bool",
        '[sources."claude-code"]\nenabled = "yes"\n',
        2,
        "sources.claude-code.enabled",
        "must be true or false",
    ),
    ("int-for-path", "[store]\npath = 3\n", 2, "store.path", "path string, got an integer"),
    ("empty-path", '[sources.codex]\nroot = ""\n', 2, "sources.codex.root", "non-empty"),
    (
        "array-for-string",
        '[log]\nlevel = ["info"]\n',
        2,
        "log.level",
        "must be a string, got an array",
    ),
    ("table-expected-top", "store = 3\n", 1, "store", "must be a table, got an integer"),
    (
        "table-expected-agent",
        "[sources]\ncodex = true\n",
        2,
        "sources.codex",
        "must be a table, got a boolean",
    ),
    ("table-expected-sources", 'sources = "all"\n', 1, "sources", "must be a table"),
    ("array-of-tables", '[[store]]\npath = "x"\n', 1, "store", "must be a table, got an array"),
    (
        "level",
        '[log]\nlevel = "verbose"\n',
        2,
        "log.level",
        "must be one of debug, info, warning, error",
    ),
    ("level-case", '[log]\nlevel = "INFO"\n', 2, "log.level", "must be one of"),
    ("format", '[log]\nformat = "xml"\n', 2, "log.format", "must be one of auto, console, json"),
    (
        "dotted-top",
        '# comment\ncollector.flush_interval_ms = "x"\n',
        2,
        "collector.flush_interval_ms",
        "must be a number",
    ),
    ("inline-top", "\n\nsources.codex = { root = 3 }\n", 3, "sources.codex.root", "path string"),
    (
        "inline-in-table",
        "[sources]\ncodex = { root = 3 }\n",
        2,
        "sources.codex.root",
        "path string",
    ),
    (
        "same-key-other-section",
        "[tracker]\nenabled = true\n[sources.codex]\nenabled = 1\n",
        4,
        "sources.codex.enabled",
        "true or false",
    ),
    (
        "commented-first",
        "[collector]\n# batch_rows = 5\nbatch_rows = 0\n",
        3,
        "collector.batch_rows",
        "greater than 0",
    ),
]

POSITIVE = [
    ("store", "busy_timeout_ms"),
    ("collector", "flush_interval_ms"),
    ("collector", "batch_rows"),
    ("collector", "batch_bytes"),
    ("collector", "queue_bound"),
    ("collector", "max_line_bytes"),
    ("collector", "read_chunk_bytes"),
    ("collector", "rescan_interval"),
    ("collector", "args_cap"),
    ("collector", "raw_cap"),
    ("tracker", "scan_interval"),
    ("tracker", "idle_after"),
    ("tracker", "waiting_after"),
]


class TestFileErrors:
    """Each error names the file, the line and the dotted key: ``file:line: key: reason``."""

    @pytest.mark.parametrize(
        ("text", "line", "key", "reason"),
        [pytest.param(*case[1:], id=case[0]) for case in ERRORS],
    )
    def test_error(
        self, tmp_path: Path, env: dict[str, str], *, text: str, line: int, key: str, reason: str
    ) -> None:
        """The message is ``<path>:<line>: <dotted key>: <reason>``."""
        path = write(tmp_path, text)
        error = load_error(path, env)
        assert (error.path, error.line, error.key) == (str(path), line, key)
        assert reason in error.reason
        assert str(error).startswith(f"{path}:{line}: {key}: ")
        assert reason in str(error)

    @pytest.mark.parametrize("value", ["0", "-1", "-0.5"])
    @pytest.mark.parametrize(("section", "key"), POSITIVE)
    def test_non_positive(
        self, tmp_path: Path, env: dict[str, str], section: str, key: str, value: str
    ) -> None:
        """Counts, sizes and intervals must be greater than 0."""
        path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
        error = load_error(path, env)
        assert str(error).startswith(f"{path}:2: {section}.{key}: ")
        if "." in value and key not in (
            "rescan_interval",
            "scan_interval",
            "idle_after",
            "waiting_after",
        ):
            assert "whole number" in str(error)
        else:
            assert "greater than 0" in str(error)

    @pytest.mark.parametrize(
        ("text", "line", "fragment"),
        [
            ('[log]\nlevel = "info"\nformat = \n', 3, "Invalid value"),
            ('[log]\nlevel = "a"\nlevel = "b"\n', 3, "overwrite"),
            ('[log]\n\n\nlevel = "unterminated\n', 4, "Illegal character"),
            ("[log]\n[log]\n", 2, "twice"),
            ("a = 1\n[collector\n", 2, "table declaration"),
        ],
        ids=[
            "missing-value",
            "duplicate-key",
            "unterminated-string",
            "duplicate-table",
            "bad-header",
        ],
    )
    def test_invalid_toml(
        self, tmp_path: Path, env: dict[str, str], text: str, line: int, fragment: str
    ) -> None:
        """Invalid TOML is reported with the file and the line tomllib found."""
        path = write(tmp_path, text)
        error = load_error(path, env)
        assert (error.path, error.line) == (str(path), line)
        assert str(error).startswith(f"{path}:{line}: invalid TOML: ")
        assert fragment in str(error)
        assert "(at line" not in str(error)  # the line moved to the front, not repeated

    def test_first_error_wins(self, tmp_path: Path, env: dict[str, str]) -> None:
        """With several problems, one error is raised (the first checked)."""
        path = write(tmp_path, "[store]\npath = 3\n[log]\nlevel = 9\n")
        error = load_error(path, env)
        assert error.key in ("store.path", "log.level")


class TestLocateKey:
    """locate_key finds the line of a dotted key in the forms TOML allows."""

    @pytest.mark.parametrize(
        ("text", "dotted", "line"),
        [
            ("[a]\nb = 1\n", "a.b", 2),
            ("[a]\nb = 1\n", "a", 1),
            ('["a"]\n"b" = 1\n', "a.b", 2),
            ("[ a . c ]\nb = 1\n", "a.c.b", 2),
            ("a.b = 1\n", "a.b", 1),
            ("x = 1\na = { b = 1 }\n", "a.b", 2),
            ("[a]\nb = 1\n[c]\nb = 2\n", "c.b", 4),
            ("[a] # comment\n\nb = 1\n", "a.b", 3),
            ("[[a]]\nb = 1\n", "a", 1),
            ("[a]\nb = 1\n", "a.z", None),
            ("x = 1\n", "a.b", None),
        ],
    )
    def test_lines(self, text: str, dotted: str, line: int | None) -> None:
        """Headers, quoted and dotted keys, inline tables; the table line as a fallback."""
        assert locate_key(text, dotted) == line


class TestEnvironmentOverrides:
    """AGENT_VIZ_MONITOR_<SECTION>__<KEY> overrides file and defaults."""

    @pytest.mark.parametrize(
        ("name", "value", "get", "expected"),
        [
            ("COLLECTOR__BATCH_ROWS", "10", lambda c: c.collector.batch_rows, 10),
            ("STORE__BUSY_TIMEOUT_MS", "250", lambda c: c.store.busy_timeout_ms, 250),
            ("COLLECTOR__FORCE_POLLING", "true", lambda c: c.collector.force_polling, True),
            ("TRACKER__ENABLED", "false", lambda c: c.tracker.enabled, False),
            ("TRACKER__IDLE_AFTER", "12.5", lambda c: c.tracker.idle_after, 12.5),
            ("TRACKER__IDLE_AFTER", "12", lambda c: c.tracker.idle_after, 12.0),
            ("LOG__LEVEL", "debug", lambda c: c.log.level, "debug"),
            ("LOG__FORMAT", '"json"', lambda c: c.log.format, "json"),
            ("STORE__PATH", "/srv/ev.db", lambda c: c.store.path, Path("/srv/ev.db")),
            (
                "SOURCES__CODEX__ROOT",
                "/r/codex",
                lambda c: c.sources["codex"].root,
                Path("/r/codex"),
            ),
            (
                "SOURCES__CLAUDE_CODE__ENABLED",
                "false",
                lambda c: c.sources["claude-code"].enabled,
                False,
            ),
            ("SOURCES__GEMINI__ENABLED", "false", lambda c: c.sources["gemini"].enabled, False),
        ],
    )
    def test_override(
        self, env: dict[str, str], name: str, value: str, get: Any, expected: object
    ) -> None:
        """Ints, floats, bools, strings (bare or quoted), paths, agent names with '_' for '-'."""
        env[PREFIX + name] = value
        result = get(load_config(None, env))
        assert result == expected
        assert type(result) is type(expected)

    def test_override_beats_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An override replaces the file's value and leaves the file's other values."""
        path = write(tmp_path, '[log]\nlevel = "warning"\nformat = "json"\n')
        env[PREFIX + "LOG__LEVEL"] = "error"
        config = load_config(path, env)
        assert (config.log.level, config.log.format) == ("error", "json")

    def test_name_case_insensitive(self, env: dict[str, str]) -> None:
        """The variable name is matched case-insensitively."""
        env["agent_viz_monitor_log__level"] = "debug"
        assert load_config(None, env).log.level == "debug"

    def test_only_agent_gets_dashes(self, env: dict[str, str]) -> None:
        """'_' becomes '-' only in agent names; keys keep their underscores."""
        env[PREFIX + "SOURCES__CLAUDE_CODE__ENABLED"] = "false"
        env[PREFIX + "COLLECTOR__FLUSH_INTERVAL_MS"] = "9"
        config = load_config(None, env)
        assert config.sources["claude-code"].enabled is False
        assert config.collector.flush_interval_ms == 9

    def test_other_variables_ignored(self, env: dict[str, str]) -> None:
        """Variables without the prefix change nothing."""
        env["AGENT_VIZ_MONITORING"] = "1"
        env["COLLECTOR__BATCH_ROWS"] = "1"
        assert load_config(None, env).collector == CollectorConfig()

    @pytest.mark.parametrize(
        ("name", "value", "key", "reason"),
        [
            ("COLLECTOR__BATCH_ROWS", "abc", "collector.batch_rows", "must be a number"),
            ("COLLECTOR__BATCH_ROWS", "0", "collector.batch_rows", "greater than 0"),
            ("COLLECTOR__BATCH_ROWS", "1.5", "collector.batch_rows", "whole number"),
            ("COLLECTOR__FORCE_POLLING", "yes", "collector.force_polling", "true or false"),
            ("LOG__LEVEL", "loud", "log.level", "must be one of"),
            ("LOG__LEVEL", "", "log.level", "must be one of"),
            ("STORE__PATH", "3", "store.path", "path string"),
            ("COLLECTOR__NOPE", "1", "collector.nope", "unknown key"),
            ("NOPE__X", "1", "nope", "unknown key"),
            ("SOURCES__CURSOR__ENABLED", "true", "sources.cursor", "unknown key"),
            ("SOURCES__CODEX__ROOTS", "/x", "sources.codex.roots", "unknown key"),
        ],
    )
    def test_bad_override_names_variable(
        self, env: dict[str, str], name: str, value: str, key: str, reason: str
    ) -> None:
        """A bad override's error names the variable (not the config file) and the key."""
        env[PREFIX + name] = value
        with pytest.raises(ConfigError) as caught:
            load_config(None, env)
        error = caught.value
        assert PREFIX + name in str(error)
        assert str(error).startswith(f"environment {PREFIX}{name}: {key}: ")
        assert reason in str(error)
        assert error.line is None
        assert "config.toml" not in str(error)

    def test_bad_override_with_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """With a config file present, a bad override still names the variable, no file line."""
        path = write(tmp_path, "[collector]\nbatch_rows = 10\n")
        env[PREFIX + "COLLECTOR__BATCH_ROWS"] = "many"
        error = load_error(path, env)
        assert str(error).startswith(f"environment {PREFIX}COLLECTOR__BATCH_ROWS: ")
        assert error.line is None

    def test_file_error_still_names_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An error in the file is the file's even when other keys are overridden."""
        path = write(tmp_path, '[collector]\nbatch_rows = "x"\n')
        env[PREFIX + "COLLECTOR__QUEUE_BOUND"] = "5"
        error = load_error(path, env)
        assert str(error).startswith(f"{path}:2: collector.batch_rows: ")

    @pytest.mark.parametrize(
        ("name", "text"),
        [("LOG", ""), ("LOG__LEVEL__X", '[log]\nlevel = "info"\n')],
        ids=["no-key", "into-a-value"],
    )
    def test_malformed_variable(
        self, tmp_path: Path, env: dict[str, str], name: str, text: str
    ) -> None:
        """A variable without a key, or one that treats a value as a table, is named."""
        env[PREFIX + name] = "1"
        error = load_error(write(tmp_path, text), env)
        assert str(error).startswith(f"environment {PREFIX}{name}")


def run_cli(
    home_dir: str, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script with HOME set and no XDG, agent or override variables inherited."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("XDG_", PREFIX, "CLAUDE_CONFIG_DIR", "CODEX_HOME"))
    }
    env["HOME"] = home_dir
    env.update(extra or {})
    return subprocess.run(
        [str(BIN / "agent-viz-monitor"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def printed_config(stdout: str) -> dict[str, Any]:
    """check-config's output parsed back as TOML."""
    return tomllib.loads(stdout)


class TestCheckConfigCommand:
    """``agent-viz-monitor check-config`` as a subprocess."""

    def test_prints_effective_config(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A valid file: the effective config as TOML on stdout, exit 0, nothing on stderr."""
        path = write(tmp_path, '[log]\nlevel = "debug"\n[sources.codex]\nenabled = false\n')
        done = run_cli(env["HOME"], "check-config", "--config", str(path))
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert str(path) in done.stdout.splitlines()[0]
        printed = printed_config(done.stdout)
        assert printed == load_config(path, env).to_dict()
        assert printed["log"]["level"] == "debug"
        assert printed["sources"]["codex"]["enabled"] is False

    def test_output_loads_back(self, tmp_path: Path, env: dict[str, str]) -> None:
        """The printed config is itself a valid config file giving the same Config."""
        done = run_cli(env["HOME"], "check-config", "--config", str(EXAMPLE))
        assert done.returncode == 0, done.stderr
        again = write(tmp_path, done.stdout, "printed.toml")
        reloaded: Config = load_config(again, env)
        assert msgspec.structs.replace(reloaded, source_file=None) == msgspec.structs.replace(
            load_config(EXAMPLE, env), source_file=None
        )

    def test_global_option_position(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--config is accepted before the subcommand as well."""
        path = write(tmp_path, '[log]\nformat = "json"\n')
        done = run_cli(env["HOME"], "--config", str(path), "check-config")
        assert done.returncode == 0, done.stderr
        assert printed_config(done.stdout)["log"]["format"] == "json"

    def test_defaults_without_file(self, env: dict[str, str]) -> None:
        """No --config and no default file: the defaults under HOME, exit 0."""
        done = run_cli(env["HOME"], "check-config")
        assert done.returncode == 0, done.stderr
        printed = printed_config(done.stdout)
        assert printed["store"]["path"] == str(database_file(env))
        assert "absent" in done.stdout.splitlines()[0]

    def test_environment_override_shown(self, env: dict[str, str]) -> None:
        """An override is part of the effective config printed."""
        done = run_cli(env["HOME"], "check-config", extra={PREFIX + "COLLECTOR__BATCH_ROWS": "77"})
        assert done.returncode == 0, done.stderr
        assert printed_config(done.stdout)["collector"]["batch_rows"] == 77

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('[log]\nlevel = "verbose"\n', ":2: log.level: must be one of"),
            ("\n\nsources.codex = { root = 3 }\n", ":3: sources.codex.root: must be a"),
            ("[collector]\nbatch_rows = \n", ":2: invalid TOML: "),
        ],
        ids=["bad-choice", "inline-table", "invalid-toml"],
    )
    def test_bad_file(self, tmp_path: Path, env: dict[str, str], text: str, expected: str) -> None:
        """A bad file: exit 2, one ``file:line: key: reason`` line on stderr, no traceback."""
        path = write(tmp_path, text)
        done = run_cli(env["HOME"], "check-config", "--config", str(path))
        assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"{path}{expected}" in lines[0]
        assert done.stdout == ""

    def test_missing_file(self, tmp_path: Path, env: dict[str, str]) -> None:
        """--config naming a missing file: exit 2 naming it, no traceback."""
        path = tmp_path / "missing.toml"
        done = run_cli(env["HOME"], "check-config", "--config", str(path))
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert str(path) in done.stderr

    def test_bad_override(self, env: dict[str, str]) -> None:
        """A bad override: exit 2 naming the variable, no traceback."""
        done = run_cli(env["HOME"], "check-config", extra={PREFIX + "TRACKER__IDLE_AFTER": "soon"})
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert f"{PREFIX}TRACKER__IDLE_AFTER: tracker.idle_after:" in done.stderr
