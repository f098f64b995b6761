"""A Hypothesis state machine over the file operations a tailer meets, against a model.

Rules: write a line, write a partial line, rotate (rename out of the pattern, new file), atomic
replace (write-temp-then-rename with the same prefix plus a line), truncate, delete, restart
(``run --once`` to completion) and kill (a live daemon SIGKILLed at a random moment).

Model: every complete line present in a transcript when an ingest runs to completion must be
stored (``required``); nothing may be stored that was never written as a complete line
(``allowed``); a partial line is never parsed (no parse problems). For append-only histories
the two bounds meet: stored == written, exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from collector.parsers import make_parser
from collector.parsers.sources import classify
from store.records import Event
from tests.collector.service.daemon_harness import Instance, claude_lines

POOL = claude_lines("drm-coverage-test-fix.jsonl", "drm-python-to-rust-port.jsonl",
                    "guideai-claude-code-sample-2.jsonl")  # fmt: skip
FILES = 3


class TailingMachine(RuleBasedStateMachine):
    """Drives real files and the real daemon; checks the store after each full ingest."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path | None = None

    @initialize(seed=st.integers(0, 10**9))
    def setup(self, seed: int) -> None:
        import tempfile

        self.tmp = Path(tempfile.mkdtemp(prefix="avm-sm-"))
        self.instance = Instance(self.tmp)
        self.folder = self.instance.claude / "-proj"
        self.folder.mkdir(parents=True)
        self.paths = [self.folder / f"{i:08x}-0000-4000-8000-00000000000{i}.jsonl"
                      for i in range(FILES)]  # fmt: skip
        self.pending: dict[int, bytes] = {}
        self.next_line = seed % len(POOL)
        self.required: set[tuple[str, str]] = set()
        self.allowed: set[tuple[str, str]] = set()
        self.checked = False

    # helpers -------------------------------------------------------------------------------
    def _line(self) -> bytes:
        line = POOL[self.next_line % len(POOL)]
        self.next_line += 1
        return line

    def _keys(self, path: Path, data: bytes) -> set[tuple[str, str]]:
        source = classify("claude-code", str(self.instance.claude), str(path))
        assert source is not None
        parser, keys, offset = make_parser(source), set(), 0
        for line in data.split(b"\n")[:-1]:
            for record in parser.parse_line(line, offset):
                if isinstance(record, Event):
                    keys.add((record.session_id, record.agent_event_id))
            offset += len(line) + 1
        return keys

    def _append(self, i: int, data: bytes) -> None:
        with open(self.paths[i], "ab") as handle:
            handle.write(data)
        self._note(i)

    def _note(self, i: int) -> None:
        path = self.paths[i]
        if path.exists():
            self.allowed |= self._keys(path, path.read_bytes())

    # rules ---------------------------------------------------------------------------------
    @rule(i=st.integers(0, FILES - 1))
    def write_line(self, i: int) -> None:
        self._append(i, self.pending.pop(i, b"") + self._line())

    @rule(i=st.integers(0, FILES - 1), cut=st.integers(1, 60))
    def write_partial(self, i: int, cut: int) -> None:
        rest = self.pending.pop(i, b"")
        line = self._line()
        self._append(i, rest + line[:cut])
        self.pending[i] = line[cut:]

    @rule(i=st.integers(0, FILES - 1))
    def rotate(self, i: int) -> None:
        path = self.paths[i]
        if path.exists():
            path.rename(path.with_name(path.name + ".1"))
        self.pending.pop(i, None)
        path.touch()

    @rule(i=st.integers(0, FILES - 1))
    def atomic_replace(self, i: int) -> None:
        path = self.paths[i]
        old = path.read_bytes() if path.exists() else b""
        temp = path.with_name(".tmp-replace")
        temp.write_bytes(old + self.pending.pop(i, b"") + self._line())
        os.replace(temp, path)
        self._note(i)

    @rule(i=st.integers(0, FILES - 1))
    def truncate(self, i: int) -> None:
        with open(self.paths[i], "ab") as handle:
            handle.truncate(0)
        self.pending.pop(i, None)

    @rule(i=st.integers(0, FILES - 1))
    def delete(self, i: int) -> None:
        self.paths[i].unlink(missing_ok=True)
        self.pending.pop(i, None)

    @rule(delay=st.floats(0.0, 0.8))
    def kill(self, delay: float) -> None:
        proc = self.instance.start()
        time.sleep(delay)  # the random moment of the crash, not synchronisation
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    @rule()
    def restart(self) -> None:
        result = self.instance.run("run", "--once")
        assert result.returncode == 0, result.stderr
        for path in self.paths:
            if path.exists():
                self.required |= self._keys(path, path.read_bytes())
        self.checked = True

    # invariants ----------------------------------------------------------------------------
    @precondition(lambda self: getattr(self, "checked", False))
    @invariant()
    def store_matches_model(self) -> None:
        self.checked = False
        rows = self.instance.query(
            "SELECT s.session_key, e.agent_event_id FROM events e "
            "JOIN sessions s ON s.id = e.session_id",
            strict=True,
        )
        stored = [(str(a), str(b)) for a, b in rows]
        assert len(stored) == len(set(stored))
        missing = self.required - set(stored)
        extra = set(stored) - self.allowed
        assert not missing, f"missing {sorted(missing)[:3]}"
        assert not extra, f"never written {sorted(extra)[:3]}"
        assert self.instance.query("SELECT COUNT(*) FROM parse_problems", strict=True) == [(0,)]

    def teardown(self) -> None:
        if self.tmp is not None:
            self.instance.stop_all()
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)


class TestTailingStateMachine(TailingMachine.TestCase):  # type: ignore[name-defined]
    """A few dozen operations per run in the default suite."""

    settings = settings(max_examples=8, stateful_step_count=12, deadline=None)


@pytest.mark.slow
@pytest.mark.timeout(7200)
class TestTailingStateMachineSoak(TailingMachine.TestCase):  # type: ignore[name-defined]
    """The long run (R12 asks for thousands of examples nightly)."""

    settings = settings(max_examples=200, stateful_step_count=25, deadline=None)
