"""Pure parts of the process sources: pairing, Claude Code's per-process records, tmux panes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collector.tracker.agent_records import RecordReader, parse_record, record_names
from collector.tracker.attribution import AgentProcess, Candidate, claude_slug, could_own, pair
from collector.tracker.process import ProcessIdentity, read_identity
from collector.tracker.tmux import pane_for, parse_panes, socket_paths

T0 = 1_700_000_000.0


def proc(
    pid: int, start: float, cwd: str | None = "/w/p", agent: str | None = "claude-code"
) -> AgentProcess:
    return AgentProcess(ProcessIdentity(pid, start), agent, cwd)


def cand(sid: int, first: float | None, last: float | None, **kw: str) -> Candidate:
    agent = kw.get("agent", "claude-code")
    path = kw.get("transcript_path")
    return Candidate(sid, agent, kw.get("project_dir", "/w/p"), path, first, last)


class TestAttribution:
    """A process owns a session appended in its cwd since it started."""

    def test_slug_is_claude_codes_folder_name(self) -> None:
        """Every non-alphanumeric character becomes '-'."""
        assert claude_slug("/Users/chip/dev/ai-music") == "-Users-chip-dev-ai-music"
        assert claude_slug("/a/.b_c") == "-a--b-c"

    @pytest.mark.parametrize(
        ("process", "candidate", "owns"),
        [
            (proc(1, T0), cand(1, T0 + 5, T0 + 9), True),
            (proc(1, T0), cand(1, T0 - 900, T0 + 9), True),  # resumed: appended since start
            (proc(1, T0), cand(1, T0 - 900, T0 - 100), False),  # quiet since before the start
            (proc(1, T0, cwd="/w/q"), cand(1, T0 + 5, T0 + 9), False),
            (proc(1, T0, agent="codex"), cand(1, T0 + 5, T0 + 9), False),
            (proc(1, T0, agent=None), cand(1, T0 + 5, T0 + 9, agent="codex",
                                            project_dir="/w/p"), True),  # registered: any agent
            (proc(1, T0, cwd=None), cand(1, T0 + 5, T0 + 9), False),
            (proc(1, T0, cwd="/w/p/"), cand(1, T0 + 5, T0 + 9), True),
            (proc(1, T0, cwd="/w/x.y"), cand(1, T0, T0 + 1, project_dir="",
                                             transcript_path="/h/.claude/projects/-w-x-y/a.jsonl"),
             True),  # no cwd recorded yet: Claude's folder name decides
            (proc(1, T0), cand(1, None, None), False),
        ],
    )  # fmt: skip
    def test_could_own(self, process: AgentProcess, candidate: Candidate, owns: bool) -> None:
        """Agent, directory and time all have to fit."""
        assert could_own(process, candidate) is owns

    def test_start_order_pairs_agents_sharing_a_directory(self) -> None:
        """Two agents in one folder: the newer process gets the newer session."""
        old, new = proc(10, T0), proc(11, T0 + 60)
        first, second = cand(1, T0 + 2, T0 + 100), cand(2, T0 + 62, T0 + 100)
        pairs = {(p.identity.pid, c.session_id) for p, c in pair([old, new], [first, second])}
        assert pairs == {(11, 2), (10, 1)}

    def test_one_session_is_never_given_twice(self) -> None:
        """Two processes, one session: only one pair."""
        pairs = pair([proc(1, T0), proc(2, T0 + 1)], [cand(1, T0 + 5, T0 + 9)])
        assert [(p.identity.pid, c.session_id) for p, c in pairs] == [(2, 1)]


RECORD = {"pid": 50224, "sessionId": "c172c2e6-aa5f-4a18-9e1c-a04d200f3239",
          "cwd": "/Users/u/src/t", "startedAt": 1781214817047,
          "procStart": "Thu Jun 11 21:53:36 2026", "version": "2.1.173", "kind": "interactive",
          "entrypoint": "cli", "status": "waiting", "waitingFor": "approve Bash",
          "updatedAt": 1781216225729, "statusUpdatedAt": 1781216225729}  # fmt: skip


class TestClaudeRecords:
    """~/.claude/sessions/<pid>.json: tolerant parsing and the pid-reuse guard."""

    def test_published_shape_parses(self) -> None:
        """The shape public sources show (v2.1.173) gives every field we use."""
        rec = parse_record(json.dumps(RECORD).encode())
        assert rec is not None
        assert rec.session_key == "claude-code:c172c2e6-aa5f-4a18-9e1c-a04d200f3239"
        assert (rec.status, rec.waiting_for, rec.cwd) == (
            "waiting",
            "approve Bash",
            "/Users/u/src/t",
        )
        assert rec.status_at == pytest.approx(1781216225.729)

    @pytest.mark.parametrize(
        "data",
        [b"not json", b"[]", b'{"sessionId": "x"}', b'{"pid": 12}',
         b'{"pid": true, "sessionId": "x"}', b'{"pid": 0, "sessionId": "x"}',
         b'{"pid": 5, "sessionId": ""}'],
    )  # fmt: skip
    def test_unusable_records_are_skipped(self, data: bytes) -> None:
        """Without a pid and a session id a record is ignored, never an error."""
        assert parse_record(data) is None

    def test_minimal_and_future_records_parse(self) -> None:
        """Only pid and sessionId are needed; unknown fields are ignored."""
        rec = parse_record(b'{"pid": 9, "sessionId": "s", "newField": {"x": 1}, "status": 3}')
        assert rec is not None
        assert rec.status is None

    def test_proc_start_guards_against_pid_reuse(self) -> None:
        """Linux procStart is the start tick; a different tick is another process."""
        own = read_identity(os.getpid())
        assert own is not None
        assert own.start_ticks is not None
        base = {"pid": own.pid, "sessionId": "s"}
        same = parse_record(json.dumps({**base, "procStart": str(own.start_ticks)}).encode())
        other = parse_record(json.dumps({**base, "procStart": str(own.start_ticks + 9)}).encode())
        assert same is not None
        assert other is not None
        assert same.names(own)
        assert not other.names(own)

    def test_started_at_bounds_records_without_proc_start(self) -> None:
        """A record written before the process started belongs to an earlier process."""
        own = read_identity(os.getpid())
        assert own is not None
        base = {"pid": own.pid, "sessionId": "s"}
        early = parse_record(
            json.dumps({**base, "startedAt": (own.started_at - 3600) * 1000}).encode()
        )
        late = parse_record(json.dumps({**base, "startedAt": (own.started_at + 2) * 1000}).encode())
        assert early is not None
        assert late is not None
        assert not early.names(own)
        assert late.names(own)

    def test_reader_skips_legacy_and_broken_files(self, tmp_path: Path) -> None:
        """pid-<n>.json (legacy) and garbage are skipped; a missing folder is empty."""
        assert RecordReader(tmp_path / "absent").read() == []
        (tmp_path / "123.json").write_text(json.dumps({**RECORD, "pid": 123}))
        (tmp_path / "pid-77.json").write_text('{"session_id": "x", "cwd": "/"}')
        (tmp_path / "456.json").write_text("{broken")
        reader = RecordReader(tmp_path)
        assert [r.pid for r in reader.read()] == [123]
        (tmp_path / "123.json").write_text(json.dumps({**RECORD, "pid": 123, "status": "busy"}))
        os.utime(tmp_path / "123.json", ns=(1, 1))
        assert [r.status for r in reader.read()] == ["busy"]
        assert record_names(["1.json", "pid-2.json", "x.json", "3.json.tmp"]) == ["1.json"]


class TestTmuxParsing:
    """list-panes output and the pane of a process lineage."""

    def test_parse_and_map(self) -> None:
        """pane_pid → session:window.pane; the first pane in the agent's lineage wins."""
        panes = parse_panes("100\tmain:0.0\n200\twork space:1.2\nbad line\n\t:\n")
        assert panes == {100: "main:0.0", 200: "work space:1.2"}
        assert pane_for([555, 200, 1], panes) == "work space:1.2"
        assert pane_for([555], panes) is None

    def test_sockets_of_this_user(self, tmp_path: Path) -> None:
        """Only sockets in $TMUX_TMPDIR/tmux-<uid>/ count; no folder means none."""
        assert socket_paths({"TMUX_TMPDIR": str(tmp_path)}) == []
        folder = tmp_path / f"tmux-{os.getuid()}"
        folder.mkdir()
        (folder / "not-a-socket").write_text("")
        assert socket_paths({"TMUX_TMPDIR": str(tmp_path)}) == []
