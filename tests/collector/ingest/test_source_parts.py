"""``classify`` splits a path under its root with string operations, exactly as ``PurePath``
did (``PurePath`` interned every part: 20,000 file names grew the interpreter's table of
interned strings for good)."""

from __future__ import annotations

from pathlib import PurePath

from hypothesis import given
from hypothesis import strategies as st

from collector.parsers.sources import _parts_under

# POSIX keeps a leading "//" as a root of its own; no root or scanned path starts with one.
paths = st.text(alphabet="ab/.", max_size=12).filter(lambda p: not p.startswith("//") or
                                                    p.startswith("///"))  # fmt: skip


def _pure(root: str, path: str) -> tuple[str, ...]:
    pure = PurePath(path)
    try:
        return pure.relative_to(root).parts
    except ValueError:
        return pure.parts[-4:]


@given(paths.filter(bool), paths.filter(bool))
def test_parts_equal_purepath(root: str, path: str) -> None:
    assert _parts_under(root, path) == _pure(root, path)


def test_real_layouts() -> None:
    root = "/home/u/.claude/projects"
    assert _parts_under(root, f"{root}/-w-app/s.jsonl") == ("-w-app", "s.jsonl")
    assert _parts_under(root + "/", f"{root}//-w-app/./s.jsonl") == ("-w-app", "s.jsonl")
    assert _parts_under(root, "/elsewhere/a/b/c/d/e.jsonl") == ("b", "c", "d", "e.jsonl")
    assert _parts_under(root, "/home/u/.claude/projects-old/x.jsonl")[-1] == "x.jsonl"
