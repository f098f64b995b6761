"""Pure parts of the dashboard: parameter checks, the file tree, command percentiles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.dashboard import params, shapes
from collector.dashboard.guard import allowed_hosts, is_loopback
from store.reads.lookups import Spread, nearest_rank

NOW = datetime(2025, 11, 14, 12, 0, tzinfo=UTC)


class TestParams:
    @pytest.mark.parametrize(("raw", "expected"), [(None, 7), ("", 7), ("3", 3), ("10", 10)])
    def test_integer_in_range(self, raw: str | None, expected: int) -> None:
        query = {} if raw is None else {"n": raw}
        assert params.integer(query, "n", 7, 1, 10) == expected

    @pytest.mark.parametrize("raw", ["0", "11", "x", "1.5", "-3", "1e3"])
    def test_integer_refused_names_the_parameter(self, raw: str) -> None:
        with pytest.raises(params.ParamError, match=r"^n: "):
            params.integer({"n": raw}, "n", 7, 1, 10)

    def test_choices_accept_a_comma_list_and_refuse_with_the_valid_values(self) -> None:
        assert params.choices({"s": "a, b"}, "s", ("a", "b", "c")) == ["a", "b"]
        assert params.choices({}, "s", ("a",)) == []
        with pytest.raises(params.ParamError, match="valid: a, b"):
            params.choices({"s": "a,z"}, "s", ("a", "b"))

    def test_unknown_parameter_is_refused_but_token_is_not(self) -> None:
        params.check_known({"limit": "1", "token": "t"}, ("limit",))
        with pytest.raises(params.ParamError, match=r"'lmit'.*limit"):
            params.check_known({"lmit": "1"}, ("limit",))

    def test_since_forms(self) -> None:
        assert params.since({"since": "2h"}, "since", NOW, UTC) == "2025-11-14T10:00:00.000Z"
        assert params.until({"u": "2025-11-13"}, "u", NOW, UTC) == "2025-11-14T00:00:00.000Z"
        with pytest.raises(params.ParamError, match=r"^since: cannot read"):
            params.since({"since": "soonish"}, "since", NOW, UTC)


def _row(path: str, **counts: Any) -> dict[str, Any]:
    base = {"file_path": path, "total_operations": 0, "reads": 0, "writes": 0, "edits": 0,
            "deletes": 0, "searches": 0, "last_modified": None, "last_access": None}  # fmt: skip
    base.update(counts)
    base["total_operations"] = sum(base[k] for k in shapes.COUNTS)
    return base


class TestFileTree:
    def test_folds_the_common_folder_and_sums_folders(self) -> None:
        tree = shapes.file_tree([
            _row("/home/me/p/src/a.py", reads=2, last_modified=None),
            _row("/home/me/p/src/b.py", edits=1, last_modified="2025-01-02T00:00:00.000Z"),
            _row("/home/me/p/README.md", writes=1, last_modified="2025-01-01T00:00:00.000Z"),
        ])  # fmt: skip
        assert tree["name"] == "/home/me/p"
        assert tree["type"] == "directory"
        assert (tree["reads"], tree["edits"], tree["writes"]) == (2, 1, 1)
        assert tree["last_modified"] == "2025-01-02T00:00:00.000Z"
        assert [c["name"] for c in tree["children"]] == ["src", "README.md"]  # folders first
        src = tree["children"][0]
        assert [c["name"] for c in src["children"]] == ["a.py", "b.py"]
        assert src["operations"] == 3

    def test_empty(self) -> None:
        tree = shapes.file_tree([])
        assert tree["children"] == []
        assert tree["operations"] == 0

    @given(st.lists(st.lists(st.sampled_from(["a", "b", "c.py", "d"]), min_size=1, max_size=4),
                    max_size=12, unique_by=tuple))  # fmt: skip
    def test_every_file_is_a_leaf_and_the_root_holds_every_operation(
        self, paths: list[list[str]]
    ) -> None:
        rows = [_row("/" + "/".join(p), reads=1) for p in paths]
        tree = shapes.file_tree(rows)
        leaves, stack = [], [tree]
        while stack:
            node = stack.pop()
            stack.extend(node["children"])
            if node["type"] == "file":
                leaves.append(node["path"])
        assert sorted(leaves) == sorted(r["file_path"] for r in rows)
        assert tree["reads"] == len(rows)


class TestCommandStats:
    @pytest.mark.parametrize(("values", "p50", "p95"), [
        ([], None, None), ([5], 5, 5), ([1, 2, 3, 4], 2, 4), (list(range(1, 101)), 50, 95),
    ])  # fmt: skip
    def test_nearest_rank(self, values: list[int], p50: int | None, p95: int | None) -> None:
        assert nearest_rank(values, 0.5) == p50
        assert nearest_rank(values, 0.95) == p95

    def test_rows_get_percentiles_and_failure_rate(self) -> None:
        view = [
            {"session_id": 7, "command_category": "test", "count": 4, "failures": 1},
            {"session_id": 7, "command_category": "lint", "count": 0, "failures": 0},
        ]
        spread = {(7, "test"): Spread(10, 40), (7, "git"): Spread(1, 1), (8, "test"): Spread(9, 9)}
        out = shapes.command_stats(view, spread)
        assert out[0]["p50_duration"] == 10
        assert out[0]["p95_duration"] == 40
        assert out[0]["failure_rate"] == 0.25
        assert (out[1]["p50_duration"], out[1]["p95_duration"], out[1]["failure_rate"]) == (
            None, None, None,
        )  # fmt: skip


class TestHosts:
    def test_allowed_hosts_carry_the_port(self) -> None:
        assert allowed_hosts("127.0.0.1", 8765) == frozenset(
            {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
        )
        assert "[::1]:80" in (allowed_hosts("::1", 80) or ())
        assert allowed_hosts("0.0.0.0", 1) is None

    @pytest.mark.parametrize(("host", "loop"), [("127.0.0.1", True), ("127.1.2.3", True),
                             ("::1", True), ("localhost", True), ("0.0.0.0", False),
                             ("192.168.1.4", False), ("::", False)])  # fmt: skip
    def test_is_loopback(self, host: str, loop: bool) -> None:
        assert is_loopback(host) is loop
