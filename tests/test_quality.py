"""The quality gates as tests, so the README's one test command also runs lint, format and types.

Each tool runs as a subprocess from the repository root with the interpreter's own bin folder
(the virtualenv the tests run in), reading its settings from pyproject.toml.
"""

from __future__ import annotations

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
