"""The parked-inode filter never says no to an inode a parked file has (a rename would then be
read again), and says no to nearly every other one (so a new file costs no look through all
parked files)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.checkpoint import Checkpoint
from collector.ingest.parked import SavedFile
from collector.ingest.renames import ParkedInodes

DIGEST = hashlib.sha256(b"").hexdigest()


def parked(inode: int) -> SavedFile:
    return SavedFile(Checkpoint(1, inode, 0, DIGEST, 0, DIGEST), None, True)


@given(st.lists(st.integers(min_value=0, max_value=(1 << 64) - 1), max_size=200))
def test_no_false_negatives(inodes: list[int]) -> None:
    files = ParkedInodes()
    for inode in inodes:
        files.add(inode)
    assert all(files.may_hold(inode) for inode in inodes)


def test_few_false_hits_with_20000_sequential_inodes() -> None:
    files = ParkedInodes()
    for inode in range(1_000_000, 1_020_000):
        files.add(inode)
    others = range(5_000_000, 5_020_000)
    assert sum(files.may_hold(inode) for inode in others) < 0.02 * len(others)


def test_rebuild_keeps_the_parked_and_drops_the_rest() -> None:
    files = ParkedInodes()
    kept = {f"/p/{i}": parked(i) for i in range(10)}
    for inode in range(100_000, 120_000):  # parked once, since gone: far more than 4 x 4096
        files.add(inode)
    files.note(kept["/p/0"], kept)
    assert all(files.may_hold(i) for i in range(10))
    assert sum(files.may_hold(i) for i in range(100_000, 120_000)) < 200
