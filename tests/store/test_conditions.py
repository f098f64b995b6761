"""``conditions``: optional filters become WHERE conditions and their parameters, in order."""

from __future__ import annotations

import sqlite3

import pytest

from store.conditions import conditions


@pytest.mark.parametrize(("terms", "where", "params"), [
    ((), [], []),
    ((("a = ?", None), ("b = ?", None)), [], []),
    ((("a = ?", 0), ("b = ?", None), ("c = ?", "")), ["a = ?", "c = ?"], [0, ""]),
    ((("a IN (?, ?)", (1, 2)), ("b = ?", 3)), ["a IN (?, ?)", "b = ?"], [1, 2, 3]),
    ((("a = 1", ()),), ["a = 1"], []),
])  # fmt: skip
def test_terms(
    terms: tuple[tuple[str, object], ...], where: list[str], params: list[object]
) -> None:
    """None leaves a term out (0 and "" do not); a tuple binds its items in order."""
    assert conditions(*terms) == (where, params)


def test_binds_in_sqlite() -> None:
    """The parameters line up with the conditions' placeholders in a real query."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(
            "CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'x');"
        )
        where, params = conditions(("a IN (?, ?)", (1, 3)), ("b = ?", "x"), ("a > ?", None))
        sql = "SELECT a FROM t WHERE " + " AND ".join(where) + " ORDER BY a"
        assert [row[0] for row in conn.execute(sql, params)] == [1, 3]
    finally:
        conn.close()
