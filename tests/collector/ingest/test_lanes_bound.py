"""The writer's live lane is bounded: a backfill of many small files queued live blocks the
reader instead of piling thousands of chunks up in memory."""

from __future__ import annotations

import queue
import threading

import pytest

from collector.ingest.lanes import LaneQueue


def test_live_lane_blocks_at_its_bound_and_frees_on_get() -> None:
    lanes = LaneQueue(bulk_chunks=4, bulk_bytes=1 << 20, live_chunks=3)
    for i in range(3):
        lanes.put(i, live=True)
    with pytest.raises(queue.Full):
        lanes.put(3, live=True, timeout=0.05)
    lanes.put("backlog", live=False)  # the other lane has its own bound
    done = threading.Event()

    def blocked_put() -> None:
        lanes.put(3, live=True)
        done.set()

    thread = threading.Thread(target=blocked_put)
    thread.start()
    assert not done.wait(0.05)
    assert lanes.get(0) == 0  # live first, in order
    assert done.wait(5)
    thread.join()
    assert [lanes.get(0) for _ in range(4)] == [1, 2, 3, "backlog"]


def test_default_live_bound_is_modest() -> None:
    """Hundreds, not thousands: enough for every hot file's appends, small enough that a
    many-file backfill queued live is back-pressured."""
    lanes = LaneQueue(bulk_chunks=4, bulk_bytes=1 << 20)
    for i in range(256):
        lanes.put(i, live=True, timeout=0)
    with pytest.raises(queue.Full):
        lanes.put(256, live=True, timeout=0)
