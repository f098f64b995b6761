"""Parked files by path: the compact map behaves as a dict of ``SavedFile``, and a parked
state leaves memory for the store only once the writer has committed it."""

from __future__ import annotations

import hashlib
import sys
import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.parked import (
    IN_STORE,
    RECORD_BYTES,
    Handover,
    ParkedStates,
    SavedFile,
    pack_state,
)
from collector.ingest.parked_files import ParkedFiles

HEX = st.binary(max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
COUNT = st.integers(min_value=0, max_value=(1 << 64) - 1)
CHECKPOINTS = st.none() | st.builds(Checkpoint, COUNT, COUNT, COUNT, HEX, COUNT, HEX)
ODD = st.builds(Checkpoint, COUNT, COUNT, COUNT, st.just("not-hex"), COUNT, HEX)
STATES = st.sampled_from([None, IN_STORE, b"packed", '{"v":1}'])
SESSIONS = st.sampled_from([None, "claude-code:a", "claude-code:b"])
SAVED = st.builds(SavedFile, CHECKPOINTS | ODD, STATES, st.booleans(), SESSIONS)
PATHS = st.sampled_from([f"/r/p{i}.jsonl" for i in range(6)])
OPS = st.lists(
    st.tuples(st.sampled_from(["set", "del", "rekey"]), PATHS, SAVED, SESSIONS), max_size=40
)


def fields(saved: SavedFile | None) -> tuple[Any, ...] | None:
    if saved is None:
        return None
    return saved.checkpoint, saved.parser_state, saved.live, saved.session_key


@given(OPS)
def test_behaves_as_a_dict(ops: list[tuple[str, str, SavedFile, str | None]]) -> None:
    """Any sequence of sets, deletes and rekeys leaves the same entries as a plain dict."""
    parked, model = ParkedFiles(), dict[str, SavedFile]()
    for op, path, saved, session in ops:
        if op == "set":
            parked[path] = model[path] = saved
        elif op == "del":
            assert (path in parked) == (path in model)
            if path in model:
                del parked[path], model[path]
        else:
            got = parked.rekey(path, session)
            want = model.get(path)
            if want is not None and want.session_key == session:
                want = model[path] = want.without_session()
            assert fields(got) == fields(want)
        assert len(parked) == len(model)
        assert {p: fields(s) for p, s in parked.items()} == {p: fields(s) for p, s in model.items()}


def test_quiet_files_are_records_not_objects() -> None:
    """A state IN_STORE with a SHA-256 checkpoint takes one record of the buffer."""
    sha = hashlib.sha256(b"x").hexdigest()
    parked = ParkedFiles()
    for i in range(100):
        parked[f"/r/{i}.jsonl"] = SavedFile(Checkpoint(1, i, 10, sha, 10, sha), IN_STORE, True)
    assert len(parked._data) == 100 * RECORD_BYTES
    assert not parked._other
    assert parked[f"/r/{7}.jsonl"].position() == (1, 7, 10)
    del parked["/r/7.jsonl"]
    parked["/r/new.jsonl"] = SavedFile(None, None)
    assert len(parked._data) == 100 * RECORD_BYTES  # the freed slot is reused


def test_rekey_keeps_the_scans_string() -> None:
    """One copy of each path: after a scan's rekey the map holds the scan's string."""
    parked = ParkedFiles({"/r/a.jsonl": SavedFile(None, IN_STORE, session_key="claude-code:a")})
    scans = "".join(["/r/", "a.jsonl"])  # equal, another object
    saved = parked.rekey(scans, "claude-code:a")
    assert saved is not None
    assert saved.session_key is None
    assert next(iter(parked)) is scans
    assert not parked._sessions


def test_parked_state_waits_for_the_commit() -> None:
    """A file parked right after a send keeps its state until the writer has committed it;
    then only its row does."""
    loads: list[str] = []
    states = ParkedStates(_Stored(loads))
    saved: dict[str, SavedFile] = {}
    handover = Handover()
    on_commit = handover.hand()
    sent = SavedFile(None, {"v": 1})
    states.park(saved, "/r/a.jsonl", sent, handover, None)
    assert _state(saved) == pack_state({"v": 1})
    assert states.sweep(saved, 0.0) == 0  # not committed yet: still in memory
    on_commit()
    assert states.sweep(saved, 0.0) == 1
    assert _state(saved) is IN_STORE
    resumed = states.resolved("/r/a.jsonl", saved["/r/a.jsonl"])
    assert (resumed.parser_state, loads) == ('{"row": "/r/a.jsonl"}', ["/r/a.jsonl"])


def test_a_file_woken_before_its_commit_keeps_its_new_state() -> None:
    """Once the file was opened again (its entry replaced), a late commit changes nothing."""
    states = ParkedStates(_Stored([]))
    saved: dict[str, SavedFile] = {}
    handover = Handover()
    on_commit = handover.hand()
    states.park(saved, "/r/a.jsonl", SavedFile(None, {"v": 1}), handover, None)
    saved["/r/a.jsonl"] = woken = SavedFile(None, {"v": 2})
    on_commit()
    assert states.sweep(saved, 0.0) == 0
    assert saved["/r/a.jsonl"] is woken


def test_settled_file_parks_in_store_at_once() -> None:
    states = ParkedStates(_Stored([]))
    saved: dict[str, SavedFile] = {}
    handover = Handover()
    handover.hand()()
    states.park(saved, "/r/a.jsonl", SavedFile(None, {"v": 1}), handover, None)
    assert saved["/r/a.jsonl"].parser_state is IN_STORE


def test_without_a_store_states_stay_in_memory() -> None:
    states = ParkedStates(None)
    saved: dict[str, SavedFile] = {}
    handover = Handover()
    handover.hand()()
    states.park(saved, "/r/a.jsonl", SavedFile(None, {"v": 1}), handover, None)
    assert saved["/r/a.jsonl"].parser_state == pack_state({"v": 1})


def _state(saved: dict[str, SavedFile]) -> object:
    return saved["/r/a.jsonl"].parser_state


class _Stored:
    """The store's read-back, by path (the real one is tested in tests/store)."""

    def __init__(self, loads: list[str]) -> None:
        self.loads = loads

    def state_of(self, path: str) -> str | None:
        self.loads.append(path)
        return f'{{"row": "{path}"}}'

    def release_idle(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass


def test_threads_on_different_paths_never_share_a_record() -> None:
    """The reader parks and wakes files while a scan re-keys others: each call is whole, so
    no two paths end up with one slot (one file resuming at another's checkpoint)."""
    parked = ParkedFiles()
    sha = hashlib.sha256(b"x").hexdigest()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(3000):
                path = f"/r/{worker}/{i % 50}.jsonl"
                cp = Checkpoint(worker, i % 50, i, sha, 1, sha)
                parked[path] = SavedFile(cp, IN_STORE, session_key=f"claude-code:{worker}")
                parked.rekey("".join([path]), f"claude-code:{worker}")
                if i % 7 == 0:
                    del parked[path]
                    parked[path] = SavedFile(cp, IN_STORE)
                got = parked[path].checkpoint
                assert got is not None
                assert (got.dev, got.inode) == (worker, i % 50)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: any unguarded step would show
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(parked) == 4 * 50
    for path, saved in parked.items():
        worker, inode = path.split("/")[2], path.split("/")[3].split(".")[0]
        assert saved.position() == (int(worker), int(inode), 2950 + int(inode))
