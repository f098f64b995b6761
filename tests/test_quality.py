"""The quality gates as tests, so the README's one test command also runs lint, format and types.

Each tool runs as a subprocess from the repository root with the interpreter's own bin folder
(the virtualenv the tests run in), reading its settings from pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / command[0]
    if not executable.exists():
        pytest.fail(f"{executable} is missing: install the test extras (pip install -e '.[test]')")
    return subprocess.run(
        [str(executable), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    output = f"{done.stdout}\n{done.stderr}".strip()
    assert done.returncode == 0, f"{' '.join(map(str, done.args))} failed:\n{output}"


class TestQualityGates:
    """ruff check, ruff format --check and mypy --strict pass on the repository."""

    def test_ruff_check(self) -> None:
        """ruff check . finds nothing."""
        assert_clean(run_tool("ruff", "check", "--no-cache", "--output-format", "concise", "."))

    def test_ruff_format(self) -> None:
        """ruff format --check . would change nothing."""
        assert_clean(run_tool("ruff", "format", "--check", "--no-cache", "."))

    def test_mypy(self) -> None:
        """mypy (strict, on the packages named in pyproject's [tool.mypy]) finds nothing."""
        assert_clean(run_tool("mypy"))


# SQL text: a statement's opening words (the ones a query, a write, a pragma or DDL starts with).
_SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|PRAGMA\s+\w+|CREATE\s+(TABLE|INDEX|VIEW|TRIGGER)|BEGIN\s+IMMEDIATE|ON\s+CONFLICT)",
    re.IGNORECASE | re.DOTALL,
)


def _docstrings(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for owner in ast.walk(tree):
        body = getattr(owner, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            found.add(id(body[0].value))
    return found


def _sql_findings(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    where = path.relative_to(root)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "sqlite3" for a in node.names
        ):
            found.append(f"{where}:{node.lineno}: imports sqlite3")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            found.append(f"{where}:{node.lineno}: imports from sqlite3")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _SQL.search(node.value)
        ):
            found.append(f"{where}:{node.lineno}: SQL text {node.value[:40]!r}")
    return found


class TestSqlLivesInTheStore:
    """Only store/ talks to SQLite: every other package calls store/ functions and catches the
    exception tree's StoreError, so the schema and its SQL change in one place."""

    def test_no_sqlite3_or_sql_text_outside_store(self) -> None:
        files = sorted((REPO / "collector").rglob("*.py")) + sorted((REPO / "config").rglob("*.py"))
        assert len(files) > 50  # the walk really saw the packages
        findings = [line for path in files for line in _sql_findings(path)]
        assert findings == [], "\n".join(findings)

    def test_the_check_finds_sql(self, tmp_path: Path) -> None:
        """The check itself can fail: it flags an import and a query, not a docstring."""
        probe = tmp_path / "probe.py"
        source = '"""SELECT x FROM docs is prose."""\nimport sqlite3\nQ = "SELECT id FROM events"\n'
        probe.write_text(source, encoding="utf-8")
        found = _sql_findings(probe, root=tmp_path)
        assert [line.split(": ", 1)[1] for line in found] == [
            "imports sqlite3",
            "SQL text 'SELECT id FROM events'",
        ]
