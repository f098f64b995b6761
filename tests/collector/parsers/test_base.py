"""What the parsers share: the constructor, the session time window, loose value readers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from collector.parsers import values
from collector.parsers.base import ParserBase, see_time
from collector.parsers.sources import SourceFile
from store.records import ParseProblem, SessionInfo

SOURCE = SourceFile("claude-code", "/p/-enc/s.jsonl", "claude-code:s", parent_session_id="x:p")
T1, T2, T3 = "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"


class _Recorder(ParserBase):
    """Keeps what ``_restore`` was given."""

    def _restore(self, saved: dict[str, Any], sidecar: dict[str, Any]) -> None:
        self.saved, self.sidecar = saved, sidecar


class TestParserBase:
    @pytest.mark.parametrize("state", [None, [], "x", 3])
    def test_state_and_sidecar_not_objects_read_as_empty(self, state: Any) -> None:
        """A corrupt saved state or sidecar restores as nothing, never raises."""
        parser = _Recorder(SOURCE, state, sidecar=state)
        assert parser.saved == {}
        assert parser.sidecar == {}

    def test_objects_passed_through(self) -> None:
        parser = _Recorder(SOURCE, {"cwd": "/w"}, sidecar={"description": "d"})
        assert parser.saved == {"cwd": "/w"}
        assert parser.sidecar == {"description": "d"}

    def test_jsonl_parsers_have_no_documents(self) -> None:
        assert _Recorder(SOURCE).parse_document(b'{"messages": []}') == []

    def test_failed_line_is_a_problem_naming_the_error(self) -> None:
        problem = _Recorder(SOURCE)._failed(b'{"a": 1}', 42, KeyError("k"))
        assert problem == [ParseProblem(SOURCE.path, 42, "parser error: KeyError", '{"a": 1}')]

    def test_session_record_carries_the_parent(self) -> None:
        info = _Recorder(SOURCE)._session(title="t")
        assert info == SessionInfo(
            "claude-code:s", "claude-code", SOURCE.path, parent_session_id="x:p", title="t"
        )


class TestSeeTime:
    @pytest.mark.parametrize(
        ("case", "want", "taught"),
        [
            ((T2, None, None, {}, False), (T2, T2), {"first_seen": T2, "last_activity": T2}),
            ((T1, T2, T3, {}, False), (T1, T3), {"first_seen": T1}),
            ((T3, T1, T2, {}, False), (T1, T3), {}),  # activity alone: no record
            ((T3, T1, T2, {"model": "m"}, False), (T1, T3), {"model": "m", "last_activity": T3}),
            ((T3, T1, T2, {}, True), (T1, T3), {"last_activity": T3}),  # stated by the file
            ((T2, T1, T3, {}, True), (T1, T3), {}),  # inside the window: nothing moves
        ],
    )
    def test_window(
        self, case: tuple[Any, ...], want: tuple[str, str], taught: dict[str, Any]
    ) -> None:
        """(ts, first, last, new facts, stated) → the window and what the record learns."""
        ts, first, last, new, stated = case
        assert see_time(ts, first, last, new, stated) == want
        assert new == taught


class TestValues:
    @pytest.mark.parametrize(
        ("value", "want"),
        [(5, 5), (5.7, 5), (0, 0), (-1, None), (True, None), ("5", None), (None, None),
         (2**63, None), (math.nan, None), (math.inf, None)],
    )  # fmt: skip
    def test_count(self, value: Any, want: int | None) -> None:
        assert values.count(value) == want

    @pytest.mark.parametrize(
        ("value", "want"), [("a", "a"), ("", None), (3, None), ("a\x00", "a\ufffd")]
    )
    def test_text(self, value: Any, want: str | None) -> None:
        assert values.text(value) == want

    def test_mapping(self) -> None:
        assert values.mapping({"a": 1}) == {"a": 1}
        assert values.mapping([1]) == {}
        assert values.mapping(None) == {}

    def test_chars(self) -> None:
        assert values.chars("abc") == 3
        assert values.chars([{"text": "ab"}, {"text": "c"}, "x", {"image": 1}]) == 3
        assert values.chars(7) == 0

    def test_timestamp(self) -> None:
        assert values.timestamp(T1) == T1
        assert values.timestamp("not a time") is None
        assert values.timestamp(10**30) is None
