"""Tests for ``collector.parsers.patch``: a table of patches, a property, and the real Codex
fixtures."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.parsers.patch import PatchChange, file_operations, parse_patch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HEADER = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+)$", re.MULTILINE)
FRAGMENTS = ["*** Begin Patch", "*** End Patch", "*** Add File: a", "*** Update File: b",
             "*** Delete File: c", "*** Move to: d", "@@", "+x", "-y", " z", "EOF", "{", '"',
             "\\n", "  ", "\r"]  # fmt: skip

ADD = """*** Begin Patch
*** Add File: src/new.py
+print("hi")
*** End Patch"""

UPDATE = """*** Begin Patch
*** Update File: src/app.py
@@ def main():
-    old()
+    new()
*** End Patch
"""

DELETE = "*** Begin Patch\n*** Delete File: old.txt\n*** End Patch\n"

MOVE = """*** Begin Patch
*** Update File: src/app.py
*** Move to: src/new_app.py
@@
-import a
+import b
*** End Patch"""

MULTI = """*** Begin Patch
*** Add File: docs/a.md
+# A
*** Update File: src/app.py
@@
-x
+y
*** Delete File: src/legacy.py
*** Update File: src/util.py
*** Move to: src/helpers.py
*** End Patch"""

HEREDOC = """apply_patch <<'EOF'
*** Begin Patch
*** Update File: README.md
@@
-old
+new
*** End Patch
EOF"""

INDENTED = """    *** Begin Patch
    *** Add File: a.txt
    +hello
    *** Update File: b.txt
    @@
    - *** Add File: not-a-header.txt
    + *** Delete File: also-not-a-header.txt
    *** End Patch"""

NO_MARKERS = "*** Update File: src/app.py\n@@\n-a\n+b\n*** Add File: src/b.py\n+b\n"

DUPLICATES = """*** Begin Patch
*** Update File: src/app.py
@@
-a
+b
*** Update File: src/app.py
@@
-c
+d
*** End Patch"""

CONTENT_LOOKS_LIKE_HEADER = """*** Begin Patch
*** Update File: tests/test_patch.py
@@
-    "*** Add File: x"
+    "*** Delete File: y"
+*** Update File: z
*** End Patch"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(ADD, [("src/new.py", "write")], id="add"),
        pytest.param(UPDATE, [("src/app.py", "edit")], id="update"),
        pytest.param(DELETE, [("old.txt", "delete")], id="delete"),
        pytest.param(MOVE, [("src/app.py", "delete"), ("src/new_app.py", "write")], id="move"),
        pytest.param(
            MULTI,
            [
                ("docs/a.md", "write"),
                ("src/app.py", "edit"),
                ("src/legacy.py", "delete"),
                ("src/util.py", "delete"),
                ("src/helpers.py", "write"),
            ],
            id="multi-file",
        ),
        pytest.param(HEREDOC, [("README.md", "edit")], id="heredoc"),
        pytest.param(MULTI.replace("\n", "\r\n"), file_operations(parse_patch(MULTI)), id="crlf"),
        pytest.param(INDENTED, [("a.txt", "write"), ("b.txt", "edit")], id="indented"),
        pytest.param(NO_MARKERS, [("src/app.py", "edit"), ("src/b.py", "write")], id="no-markers"),
        pytest.param(DUPLICATES, [("src/app.py", "edit")], id="duplicates"),
        pytest.param(
            CONTENT_LOOKS_LIKE_HEADER, [("tests/test_patch.py", "edit")], id="header-in-content"
        ),
        pytest.param(json.dumps({"input": UPDATE}), [("src/app.py", "edit")], id="json-input"),
        pytest.param(
            json.dumps({"command": ["apply_patch", DELETE]}),
            [("old.txt", "delete")],
            id="json-argv",
        ),
        pytest.param(
            json.dumps({"command": ["bash", "-lc", HEREDOC], "workdir": "/repo"}),
            [("README.md", "edit")],
            id="json-shell-heredoc",
        ),
        pytest.param(json.dumps(ADD), [("src/new.py", "write")], id="json-string"),
        pytest.param(
            json.dumps({"arguments": json.dumps({"input": MOVE})}),
            [("src/app.py", "delete"), ("src/new_app.py", "write")],
            id="json-in-json",
        ),
        pytest.param(json.dumps(ADD)[:-20], [("src/new.py", "write")], id="json-truncated"),
        pytest.param("", [], id="empty"),
        pytest.param("*** Begin Patch\n*** End Patch", [], id="no-files"),
        pytest.param("*** Add File:\n+x\n*** Delete File:   \n", [], id="empty-paths"),
        pytest.param("*** Move to: orphan.py\n", [], id="orphan-move"),
        pytest.param("{not json *** Add File: a", [], id="broken-json"),
        pytest.param(
            "*** Update File: a.py\n*** Move to: b.py\n*** Move to: c.py\n",
            [("a.py", "delete"), ("b.py", "write")],
            id="second-move-ignored",
        ),
        pytest.param(
            "*** Delete File: a.py\n*** Move to: b.py\n",
            [("a.py", "delete")],
            id="move-after-delete",
        ),
    ],
)
def test_patch_table(text: str, expected: list[tuple[str, str]]) -> None:
    """Each patch shape maps to the expected (path, operation) pairs in order."""
    assert file_operations(parse_patch(text)) == expected


class TestParsePatch:
    """The structured result of ``parse_patch``."""

    def test_changes(self) -> None:
        """Sections keep order, action and move target."""
        assert parse_patch(MULTI) == [
            PatchChange("docs/a.md", "add"),
            PatchChange("src/app.py", "update"),
            PatchChange("src/legacy.py", "delete"),
            PatchChange("src/util.py", "update", "src/helpers.py"),
        ]

    def test_duplicates_are_kept(self) -> None:
        """parse_patch reports every section; only file_operations deduplicates."""
        assert parse_patch(DUPLICATES) == [PatchChange("src/app.py", "update")] * 2

    def test_paths_with_spaces(self) -> None:
        """Paths run to the end of the header line, trailing blanks removed."""
        changes = parse_patch("*** Add File: docs/My Notes.md  \r\n+x\r\n")
        assert changes == [PatchChange("docs/My Notes.md", "add")]

    def test_change_is_frozen(self) -> None:
        """PatchChange is an immutable value."""
        change = PatchChange("a", "add")
        with pytest.raises(AttributeError):
            change.path = "b"  # type: ignore[misc]

    def test_non_string(self) -> None:
        """Non-text input yields no changes rather than an exception."""
        assert parse_patch(None) == []  # type: ignore[arg-type]
        assert parse_patch(b"*** Add File: a") == []  # type: ignore[arg-type]


class TestProperties:
    """Arbitrary input never raises."""

    @settings(max_examples=500)
    @given(st.text())
    def test_any_text(self, text: str) -> None:
        """Any text parses to a list of well-formed changes."""
        for change in parse_patch(text):
            assert change.action in ("add", "update", "delete")
            assert change.path
        for _, operation in file_operations(parse_patch(text)):
            assert operation in ("write", "edit", "delete")

    @settings(max_examples=500)
    @given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=10)))
    def test_patch_like_text(self, parts: list[str]) -> None:
        """Shuffled patch fragments, also JSON-encoded, never raise."""
        text = "\n".join(parts)
        assert isinstance(file_operations(parse_patch(text)), list)
        assert isinstance(parse_patch(json.dumps({"input": text})), list)


def _codex_apply_patch_payloads() -> Iterator[tuple[str, str | None]]:
    """``(patch text, call_id)`` of every apply_patch call in the Codex fixtures."""
    for path in sorted(FIXTURES.glob("codex/**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            try:
                payload = json.loads(line).get("payload")
            except (ValueError, AttributeError):
                continue
            if not isinstance(payload, dict) or payload.get("name") != "apply_patch":
                continue
            if payload.get("type") == "custom_tool_call":
                yield payload["input"], payload.get("call_id")
            elif payload.get("type") == "function_call":
                yield payload["arguments"], payload.get("call_id")


def _patch_apply_end_paths() -> dict[str, set[str]]:
    """Absolute paths Codex reported as changed, by call_id."""
    reported: dict[str, set[str]] = {}
    for path in sorted(FIXTURES.glob("codex/**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if '"patch_apply_end"' in line:
                payload = json.loads(line)["payload"]
                reported[payload["call_id"]] = set(payload["changes"])
    return reported


class TestCodexFixtures:
    """The real apply_patch calls recorded in the Codex fixtures."""

    def test_matches_plain_header_scan(self) -> None:
        """The parsed files equal a regex scan of the header lines of the same payloads."""
        payloads = list(_codex_apply_patch_payloads())
        assert len(payloads) >= 40
        for text, _ in payloads:
            scanned = [(action.lower(), path.strip()) for action, path in HEADER.findall(text)]
            parsed = [(change.action, change.path) for change in parse_patch(text)]
            assert parsed == scanned
            assert parsed

    def test_agrees_with_patch_apply_end(self) -> None:
        """Where Codex reported the applied changes, the parsed paths are those files."""
        reported = _patch_apply_end_paths()
        checked = 0
        for text, call_id in _codex_apply_patch_payloads():
            if call_id in reported:
                parsed = {change.path for change in parse_patch(text)}
                assert {p for p in reported[call_id] if any(p.endswith(q) for q in parsed)} == (
                    reported[call_id]
                )
                checked += 1
        assert checked >= 3
