"""Tables for the pure pieces behind the commands: cell formats, path shortening, filter values,
prompt titles and previews."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.parsers.text import preview, title_from_prompt
from collector.service.filters import agent_value, choice
from collector.table import format_count, format_duration, format_percent, shorten_path
from config.agents import names
from config.errors import UsageError

PATH = "/home/user/work/claude_code_log/renderer/templates/transcript.html"


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (80, PATH),
        (50, "/home/…/renderer/templates/transcript.html"),
        (40, "…/renderer/templates/transcript.html"),
        (20, "…/transcript.html"),
        (12, "trans…t.html"),
    ],
)
def test_shorten_path(width: int, expected: str) -> None:
    assert shorten_path(PATH, width) == expected


@given(st.lists(st.text("abcé._-", min_size=1, max_size=12), min_size=1, max_size=8),
       st.integers(1, 90))  # fmt: skip
def test_shortened_paths_fit_and_keep_the_name_when_they_can(parts: list[str], width: int) -> None:
    path = "/" + "/".join(parts)
    short = shorten_path(path, width)
    assert len(short) <= max(width, 1)
    if len(path) <= width:
        assert short == path
    elif len(parts[-1]) + 2 <= width:
        assert short.endswith("/" + parts[-1])


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, ""), (0, "0 ms"), (850, "850 ms"), (1048.148148148148, "1.05 s"), (12_345, "12.3 s"),
     (125_000, "2m 05s"), (3_720_000, "1h 02m")],
)  # fmt: skip
def test_format_duration(ms: float | None, text: str) -> None:
    assert format_duration(ms) == text


def test_counts_and_percent() -> None:
    assert (format_count(1234567), format_count(None)) == ("1,234,567", "")
    assert (format_percent(0.125), format_percent(None)) == ("12.5%", "")


@pytest.mark.parametrize(
    ("given_", "agent"),
    [
        ("claude", "claude-code"),
        ("Claude", "claude-code"),
        ("claude-code", "claude-code"),
        ("codex", "codex"),
        (None, None),
    ],
)
def test_agent_aliases(given_: str | None, agent: str | None) -> None:
    assert agent_value(given_) == agent


def test_unknown_values_name_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid: a, b"):
        choice("--x", "c", ("a", "b"))
    with pytest.raises(UsageError) as raised:
        agent_value("cursor")
    assert all(name in str(raised.value) for name in names())


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("Fix the failing test\nin module x", "Fix the failing test"),
        ("  \n   spaced    words  \n", "spaced words"),
        ("<command-name>/model</command-name>", None),
        ("<environment_context>cwd</environment_context>", None),
        ("# AGENTS.md instructions for /repo", None),
        ("# Files mentioned by the user:\n\n## x: /y\n\n## My request for Codex:\nsummarize it\n",
         "summarize it"),
        ("x" * 200, "x" * 119 + "…"),
        ("", None),
    ],
)  # fmt: skip
def test_title_from_prompt(prompt: str, title: str | None) -> None:
    assert title_from_prompt(prompt) == title


def test_preview_is_bounded_and_can_be_off() -> None:
    assert preview("a" * 900, 500) == "a" * 500
    assert preview("hello", 0) is None
    assert preview("   ", 500) is None
    assert preview("nul\x00byte", 500) == "nul\ufffdbyte"
