"""The parse process: a real child parses backlog reads exactly as the daemon would.

What it must never change: the records (every field, their order), the parser state committed
with them, the redactions. What it must never cost: a line, when the child fails, dies, or an
answer cannot be carried. These run the real child (``python -m collector.ingest.parse_child``)
over real pipes and shared memory, and the reader and writer threads on a real SQLite file.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.counters import Counters
from collector.ingest import parse_process
from collector.ingest.commit.writer import WriterThread
from collector.ingest.discovery import scan_root
from collector.ingest.lanes import DirtyLanes
from collector.ingest.parse_channel import Channel, shared_file
from collector.ingest.parse_channel import size as channel_size
from collector.ingest.parse_child import CHILD_NAME, ParseProcess, forks
from collector.ingest.parse_jobs import (
    Answer,
    Job,
    JobRunner,
    Setup,
    pack_records,
    parse_lines,
    unpack_records,
)  # fmt: skip
from collector.ingest.parse_process import Offload
from collector.ingest.reader import ReaderOptions, ReaderThread
from collector.ingest.tail import FileTail
from collector.parsers import DEFAULT_OPTIONS, make_parser
from collector.parsers.sources import SourceFile
from collector.privacy import scrub_records
from store import EventStore
from tests.collector.parsers.test_fidelity import FIXTURES, _source, _transcripts
from tests.collector.service.daemon_harness import expect

JSONL = [(folder, rel) for folder, rel in _transcripts() if rel.endswith(".jsonl")]


def _lines(folder: str, rel: str) -> list[tuple[int, bytes]]:
    data = (FIXTURES / folder / rel).read_bytes()
    out, offset = [], 0
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        out.append((offset, line))
        offset += len(line) + 1
    return out


def _here(source: SourceFile, lines: list[tuple[int, bytes]]) -> tuple[list[Any], Any, int]:
    """What the daemon makes of the lines in one read, parsed in its own process."""
    parser = make_parser(source)
    records = parse_lines(parser, lines)
    return records, parser.state(), scrub_records(records)


@pytest.fixture(params=["spawned", "forked"])
def child(request: pytest.FixtureRequest) -> Iterator[ParseProcess]:
    """A child as ``run`` starts it on Linux (forked) and as the reader restarts it (spawned)."""
    process = ParseProcess(slot=1 << 20, depth=3)
    process.start(fork=request.param == "forked")
    yield process
    process.close()


class TestRecordsCrossUnchanged:
    @pytest.mark.parametrize(("folder", "rel"), JSONL, ids=str)
    def test_every_record_of_every_fixture_round_trips(self, folder: str, rel: str) -> None:
        source = _source(folder, rel)
        assert source is not None
        records, _, _ = _here(source, _lines(folder, rel))
        assert records
        assert unpack_records(pack_records(records)) == records

    def test_the_runner_in_steps_equals_one_read_here(self) -> None:
        """Seven lines per job, and once rebuilt from the state of the last answer (what a
        new child does): the records, states and redactions of one read parsed here."""
        for folder, rel in JSONL:
            source = _source(folder, rel)
            assert source is not None
            lines = _lines(folder, rel)
            want, want_state, want_redactions = _here(source, lines)
            runner, got, state, redactions = JobRunner(), [], None, 0
            for step, start in enumerate(range(0, len(lines), 7)):
                setup = None
                if step in (0, 3):  # step 3: a new child, from the last answer's state
                    setup = Setup(source, state, DEFAULT_OPTIONS, None)
                job = Job(1, lines[start : start + 7], setup)
                answer = Answer.decode(runner.run(job.encode()))
                assert answer.error is None
                got += answer.records
                state, redactions = answer.state, redactions + answer.redactions
            assert (got, state, redactions) == (want, want_state, want_redactions), rel

    def test_a_failing_job_is_answered_and_the_runner_goes_on(self) -> None:
        runner = JobRunner()
        unknown = SourceFile("no-such-agent", "/x.jsonl", "s")
        setup = Setup(unknown, None, DEFAULT_OPTIONS, None)
        bad = Answer.decode(runner.run(Job(1, [(0, b"{}")], setup).encode()))
        assert "no-such-agent" in (bad.error or "")
        assert Answer.decode(runner.run(Job(1, [(0, b"{}")]).encode())).error  # forgotten
        assert (Answer.decode(runner.run(b"not marshal")).error or "").startswith("bad job")
        folder, rel = JSONL[0]
        source = _source(folder, rel)
        assert source is not None
        lines = _lines(folder, rel)
        good = Job(2, lines, Setup(source, None, DEFAULT_OPTIONS, None))
        assert Answer.decode(runner.run(good.encode())).records == _here(source, lines)[0]


class TestChannel:
    def test_bodies_cross_in_order_and_a_big_one_is_refused(self) -> None:
        a_read, b_write = os.pipe()
        b_read, a_write = os.pipe()
        memory = shared_file(channel_size(64, 2))
        daemon = Channel((a_read, a_write), memory, 64, 2, daemon=True)
        child = Channel((b_read, b_write), memory, 64, 2, daemon=False)
        os.close(memory)
        try:
            assert daemon.send(b"one")
            assert daemon.send(b"t", memoryview(b"wo"))  # in pieces, one body
            assert not daemon.send(b"x" * 60, b"x" * 5)  # not sent at all: nothing to read
            for body in (b"one", b"two"):
                got = child.receive()
                assert got is not None
                assert bytes(got) == body
                got.release()
                assert child.send(body.upper(), answer=True)
            assert not child.send(b"y" * 65, answer=True)  # a note says: too big
            assert [bytes(daemon.receive() or b""), bytes(daemon.receive() or b"")] == [
                b"ONE", b"TWO",
            ]  # fmt: skip
            assert daemon.receive() is None
        finally:
            daemon.close()
            daemon.close()  # idempotent
        with pytest.raises(EOFError):
            child.receive()
        child.close()


class TestChild:
    def test_a_real_child_answers_as_the_daemon_would(self, child: ParseProcess) -> None:
        """Jobs of 50 lines, three in flight: the records of one read parsed here."""
        folder, rel = next(j for j in JSONL if j[1].startswith("hg-claude-code-log"))
        source = _source(folder, rel)
        assert source is not None
        lines = _lines(folder, rel)
        steps = [lines[i : i + 50] for i in range(0, len(lines), 50)]
        assert len(steps) > 3
        got: list[Any] = []
        for i, step in enumerate(steps):
            setup = Setup(source, None, DEFAULT_OPTIONS, None) if i == 0 else None
            assert child.send(Job(1, step, setup).encode())
            if i >= 2:
                got += self._answer(child)
        got += self._answer(child) + self._answer(child)
        assert got == _here(source, lines)[0]

    @staticmethod
    def answers_one_file(process: ParseProcess) -> None:
        """A whole fixture in one job is answered with the records parsed here."""
        folder, rel = JSONL[0]
        source = _source(folder, rel)
        assert source is not None
        lines = _lines(folder, rel)
        assert process.send(Job(1, lines, Setup(source, None, DEFAULT_OPTIONS, None)).encode())
        assert TestChild._answer(process) == _here(source, lines)[0]

    @staticmethod
    def _answer(child: ParseProcess) -> list[Any]:
        body = child.receive()
        assert body is not None
        with body:
            answer = Answer.decode(body)
        assert answer.error is None
        return answer.records

    def test_a_collector_folder_where_the_daemon_runs_is_not_imported(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Started from inside another checkout, the child still imports this package."""
        (tmp_path / "collector").mkdir()
        (tmp_path / "collector" / "__init__.py").write_text("raise ImportError('the wrong one')")
        monkeypatch.chdir(tmp_path)
        process = ParseProcess(slot=1 << 20, depth=2)
        process.start()
        try:
            expect(process.ready)
            TestChild.answers_one_file(process)
        finally:
            process.close()

    def test_the_child_ends_with_its_pipes(self, child: ParseProcess) -> None:
        pid = child.pid
        assert pid is not None
        child.close()
        child.close()  # idempotent
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left behind


class TestForked:
    """The child ``run`` forks (Linux): the daemon's modules, none of its ends of the pipes."""

    def test_it_ends_by_itself_when_the_daemon_closes_its_ends(self) -> None:
        """Only the daemon's ends are closed, nothing is killed: the child reads end of file
        and exits 0, so it holds no copy of the daemon's end of its own jobs pipe."""
        process = ParseProcess(slot=1 << 16, depth=2)
        process.start(fork=True)
        pid, channel = process.pid, process._channel
        assert pid is not None
        assert channel is not None
        try:
            expect(process.ready)
            channel.close()
            reaped = expect(lambda: (found := os.waitpid(pid, os.WNOHANG))[0] and found, timeout=10)
            assert os.waitstatus_to_exitcode(reaped[1]) == 0
            process.pid = None  # reaped here
        finally:
            process.close()

    def test_it_is_named_and_leaves_the_groups_signals_to_the_daemon(self, tmp_path: Path) -> None:
        """``ps`` shows it as the parse process; SIGTERM, SIGINT and SIGHUP sent to it (as
        to the daemon's whole group) leave it answering."""
        process = ParseProcess(slot=1 << 20, depth=2)
        process.start(fork=True)
        try:
            pid = process.pid
            expect(process.ready)
            assert Path(f"/proc/{pid}/comm").read_text().strip() == CHILD_NAME
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                os.kill(pid, signum)
            TestChild.answers_one_file(process)
        finally:
            process.close()

    def test_it_is_forked_only_while_no_other_thread_runs(self) -> None:
        """A fork copies the locks other threads hold: with one running, ``run`` spawns."""
        release = threading.Event()
        other = threading.Thread(target=release.wait)
        other.start()
        try:
            assert not forks()
        finally:
            release.set()
            other.join()


# The reader and writer threads, as the daemon runs them, with and without the child ----------


SMALLER = FIXTURES / "claude" / "guideai-claude-code-sample-2.jsonl"  # than one read
GITHUB_TOKEN = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
SECRET_PROMPT = orjson.dumps({
    "type": "user", "sessionId": "s", "uuid": "u-secret", "timestamp": "2026-01-01T00:00:00Z",
    "message": {"role": "user", "content": f"deploy with token {GITHUB_TOKEN} please"},
})  # fmt: skip


def _lay_out(root: Path) -> None:
    """Three large Claude transcripts under one root (each several reads long), one with a
    secret in a prompt every 100 lines."""
    names = ("codemie-session-624a4a58-compaction.jsonl", "codemie-session-3fe1b6bc.jsonl",
             "hg-claude-code-log-37f83ec9.jsonl")  # fmt: skip
    for name in names:
        target = root / f"-proj-{name[:12]}" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = (FIXTURES / "claude" / name).read_bytes().splitlines(keepends=True)
        if name.startswith("hg-"):
            for at in range(len(lines), 0, -100):
                lines.insert(at, SECRET_PROMPT.replace(b"u-secret", b"u-secret-%d" % at) + b"\n")
        target.write_bytes(b"".join(lines))


def _ingest(tmp: Path, root: Path, offload: bool, after: Any = None) -> dict[str, Any]:
    """Read every transcript under ``root`` into a fresh store; its rows, files and counters
    (``after(reader)`` runs once all is committed, before the threads stop)."""
    store = EventStore(tmp / "events.db", manual_checkpoint=True)
    counters = Counters()
    writer = WriterThread(store, counters, flush_interval_ms=2)
    options = ReaderOptions(read_chunk_bytes=96 * 1024, backlog_step_bytes=96 * 1024,
                            parse_process=offload)  # fmt: skip
    reader = ReaderThread(writer, counters, options, {})
    writer.start()
    reader.start()
    try:
        if offload:  # the child says when it has imported the parsers; reads wait for that
            expect(reader._offload.process.ready)  # type: ignore[union-attr]
        reader.add_scan(scan_root("claude-code", str(root)))

        def done() -> bool:
            total = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
            return _committed(store) == total and reader.idle()

        expect(done, timeout=60)
        if after is not None:
            after(reader)
        return {**_dump(store), "counters": counters.snapshot()["counters"]}
    finally:
        reader.close()
        writer.close()
        store.close()


def _committed(store: EventStore) -> int:
    row = store.connection.execute("SELECT coalesce(sum(offset), 0) FROM files").fetchone()
    return int(row[0])


def _dump(store: EventStore) -> dict[str, Any]:
    conn = store.connection
    columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
    kept = ", ".join(c for c in columns if c not in ("id", "session_id", "created_at"))
    session_columns = ", ".join(
        r[1] for r in conn.execute("PRAGMA table_info(sessions)")
        if r[1] not in ("id", "created_at", "updated_at", "parent_session_id")
    )  # fmt: skip
    return {
        "events": sorted(repr(tuple(r)) for r in conn.execute(f"SELECT {kept} FROM events")),
        "sessions": sorted(repr(tuple(r)) for r in conn.execute(
            f"SELECT {session_columns} FROM sessions")),
        "files": sorted(map(tuple, conn.execute("SELECT path, offset, parser_state FROM files"))),
        "problems": sorted(map(tuple, conn.execute(
            "SELECT file_path, offset, reason FROM parse_problems"))),
    }  # fmt: skip


class TestReaderWithTheChild:
    def test_the_store_is_the_same_with_and_without_it(self, tmp_path: Path) -> None:
        root = tmp_path / "projects"
        _lay_out(root)
        here = _ingest(tmp_path / "here", root, offload=False)
        answered: list[int] = []
        there = _ingest(tmp_path / "there", root, offload=True,
                        after=lambda reader: answered.append(reader._offload.answered))  # fmt: skip
        assert answered[0] >= 20  # reads parsed by the child, several in flight
        assert there["counters"].get("parse_process_failures", 0) == 0
        assert there["counters"]["redactions"] == here["counters"]["redactions"] >= 5
        for key in ("events", "sessions", "files", "problems"):
            assert there[key] == here[key], key
        assert len(here["events"]) > 500
        assert not any(GITHUB_TOKEN in row for row in there["events"])

    def test_a_child_killed_mid_backlog_costs_no_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SIGKILL the child after its first answer: the reads it held are parsed in the
        daemon from the last answered state; the store equals a run without the child."""
        root = tmp_path / "projects"
        _lay_out(root)
        here = _ingest(tmp_path / "here", root, offload=False)
        collect = Offload.collect
        calls = {"n": 0}

        def kill_after_first(self: Offload) -> Any:
            calls["n"] += 1
            if calls["n"] == 2 and self.process.pid is not None:
                os.kill(self.process.pid, signal.SIGKILL)
            return collect(self)

        monkeypatch.setattr(Offload, "collect", kill_after_first)
        there = _ingest(tmp_path / "there", root, offload=True)
        assert there["counters"]["parse_process_failures"] == 1
        for key in ("events", "sessions", "files", "problems"):
            assert there[key] == here[key], key

    def test_an_answer_in_error_is_parsed_in_the_daemon(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The child fails one job (its parser is forgotten there): that read and the
        file's later ones are parsed in the daemon, nothing lost or doubled."""
        root = tmp_path / "projects"
        _lay_out(root)
        here = _ingest(tmp_path / "here", root, offload=False)
        decode = Answer.decode.__func__  # type: ignore[attr-defined]
        calls = {"n": 0}

        def one_error(cls: type[Answer], data: Any) -> Answer:
            calls["n"] += 1
            return Answer(error="boom") if calls["n"] == 3 else decode(cls, data)

        monkeypatch.setattr(Answer, "decode", classmethod(one_error))
        there = _ingest(tmp_path / "there", root, offload=True)
        assert calls["n"] > 3
        assert there["counters"].get("parse_process_failures", 0) == 0
        for key in ("events", "sessions", "files", "problems"):
            assert there[key] == here[key], key

    def test_an_idle_child_is_let_go(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After a quiet spell the reader ends the child (its memory was the backlog's)."""
        root = tmp_path / "projects"
        _lay_out(root)
        seen: dict[str, Any] = {}

        def let_go(reader: ReaderThread) -> None:
            monkeypatch.setattr(parse_process, "IDLE_SECONDS", 0.0)  # quiet from now on
            process = reader._offload.process  # type: ignore[union-attr]
            seen["generation"], seen["pid"] = process.generation, process.pid
            expect(lambda: not process.running, timeout=10)

        _ingest(tmp_path / "there", root, offload=True, after=let_go)
        assert seen["generation"] >= 1  # a child was started ...
        with pytest.raises(ChildProcessError):  # ... and is gone, reaped
            os.waitpid(seen["pid"], os.WNOHANG)

    def test_a_file_rewritten_mid_backlog_is_parsed_afresh(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A transcript replaced in place after the first read of its backlog: the reads of
        the new content get a new parser (not the child's, which holds the old content's
        state), as without the child."""
        root = tmp_path / "projects"
        _lay_out(root)
        target = next(root.rglob("codemie-session-3fe1b6bc.jsonl"))
        poll = FileTail.poll

        def rewrite_after_first_read(self: FileTail, *args: Any, **kwargs: Any) -> Any:
            read = poll(self, *args, **kwargs)
            first = self._path == str(target) and read is not None and read.lines
            if first and not target.with_suffix(".done").exists():
                target.with_suffix(".done").touch()
                target.write_bytes(SMALLER.read_bytes())
            return read

        monkeypatch.setattr(FileTail, "poll", rewrite_after_first_read)
        here = _ingest(tmp_path / "here", root, offload=False)
        target.with_suffix(".done").unlink()
        target.write_bytes((FIXTURES / "claude" / "codemie-session-3fe1b6bc.jsonl").read_bytes())
        there = _ingest(tmp_path / "there", root, offload=True)
        assert here["counters"]["rewrites_detected"] == 1
        assert there["counters"]["rewrites_detected"] == 1
        for key in ("events", "sessions", "files", "problems"):
            assert there[key] == here[key], key

    def test_a_read_too_big_for_a_slot_is_parsed_in_the_daemon(self, tmp_path: Path) -> None:
        """A 5 MB prompt in the middle of a backlog: its job does not fit the channel's 4 MiB
        slots, so that read is parsed here, in order, and the reads after it go back to the
        child (rebuilt from the state after it)."""
        root = tmp_path / "projects"
        _lay_out(root)
        target = next(root.rglob("codemie-session-3fe1b6bc.jsonl"))
        lines = target.read_bytes().splitlines(keepends=True)
        huge = orjson.loads(SECRET_PROMPT)
        huge["uuid"], huge["message"]["content"] = "u-huge", "x" * (5 << 20)
        lines.insert(len(lines) // 2, orjson.dumps(huge) + b"\n")
        target.write_bytes(b"".join(lines))
        here = _ingest(tmp_path / "here", root, offload=False)
        seen: list[tuple[int, int]] = []

        def count(reader: ReaderThread) -> None:
            offload = reader._offload
            assert offload is not None
            seen.append((offload.answered, offload.unanswered))

        there = _ingest(tmp_path / "there", root, offload=True, after=count)
        answered, unanswered = seen[0]
        assert answered >= 20
        assert there["counters"].get("parse_process_failures", 0) == 0  # refused, not broken
        assert unanswered >= 1  # the huge read (and any of that file's then in flight)
        for key in ("events", "sessions", "files", "problems"):
            assert there[key] == here[key], key
        assert any("u-huge" in row for row in there["events"])


class TestLiveFirst:
    def test_a_backlog_read_steps_aside_for_a_live_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """All slots taken and no answer back yet: with a live file waiting, the backlog read
        is not made (the live file is read first); with none, the reader waits for the
        oldest answer and reads on."""
        root = tmp_path / "projects"
        _lay_out(root)
        path = str(next(root.rglob("codemie-session-3fe1b6bc.jsonl")))
        store = EventStore(tmp_path / "events.db", manual_checkpoint=True)
        counters = Counters()
        writer = WriterThread(store, counters, flush_interval_ms=2)  # not started: a queue
        reader = ReaderThread(writer, counters, ReaderOptions(parse_process=True), {})
        waited: list[int] = []
        monkeypatch.setattr(Offload, "full", property(lambda self: True))
        monkeypatch.setattr(Offload, "answer_waiting", lambda self: False)
        monkeypatch.setattr(ReaderThread, "_complete_one", lambda self: waited.append(1))
        try:
            reader.add_scan(scan_root("claude-code", str(root)))
            with reader._cond:
                reader._dirty.add(str(root / "-live" / "live.jsonl"), live=True)
            assert reader._step(path) is True
            assert reader._offset(path) in (None, 0)  # not read
            assert waited == []
            # Draining a renamed file's old path (``_adopt``) never steps aside.
            assert reader._step(path, yield_to_live=False) is True
            assert (reader._offset(path) or 0) > 0
            assert waited == [1]
            waited.clear()
            with reader._cond:
                reader._dirty = DirtyLanes()
            assert reader._step(path) is True
            assert (reader._offset(path) or 0) > 0  # read
            assert waited == [1]
        finally:
            reader.close()
            writer.close()
            store.close()
