"""The pages in a real Chromium (Debian's, driven by Playwright; it cannot download its own).

Screenshots of each page go to build/dashboard-screenshots/. As root Chromium needs
--no-sandbox; the other flags keep it from reaching the network on its own.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.dashboard.helpers import SCREENSHOTS, XSS, ClaudeSession, Dashboard
from tests.collector.service.daemon_harness import Instance, expect

CHROMIUM = Path(os.environ.get("AVM_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    shutil.which(str(CHROMIUM)) is None,
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    flags = [*FLAGS, "--no-sandbox"] if os.geteuid() == 0 else FLAGS
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Bytes, written here: with ``path=`` Playwright writes from asyncio's executor thread,
    # which outlives the test.
    (SCREENSHOTS / f"{name}.png").write_bytes(page.screenshot(full_page=True))


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


class TestPages:
    def test_now_lists_the_fixture_sessions(
        self, page: Any, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        open_page(page, dash.base + "/")
        stored = fixture_instance.query("SELECT id FROM sessions", strict=True)
        rows = page.locator("tr.session-row")
        assert rows.count() == len(stored)
        shown = {int(rows.nth(i).get_attribute("data-id")) for i in range(rows.count())}
        assert shown == {int(r[0]) for r in stored}
        assert page.locator("#live.on").count() == 1  # the stream is connected
        shot(page, "now")

    def test_replay_steps_through_events(
        self, page: Any, dash: Dashboard, fixture_instance: Instance
    ) -> None:
        """The slider and the step buttons move through the session's events in time order."""
        sid, count = fixture_instance.query(
            "SELECT session_id, COUNT(*) FROM events GROUP BY 1 ORDER BY 2 DESC", strict=True
        )[0]
        by_time = fixture_instance.query(
            "SELECT event_type, timestamp FROM events WHERE session_id = ? ORDER BY timestamp, id",
            (sid,), strict=True)  # fmt: skip
        open_page(page, f"{dash.base}/sessions/{sid}")
        assert page.locator("#replay-count").inner_text() == f"event {count} of {count} (live)"
        page.locator("#replay").fill("0")
        assert page.locator("#replay-count").inner_text() == f"event 1 of {count}"
        assert by_time[0][0] in page.locator("#replay-event").inner_text()
        for index in (1, 2, 3):
            page.locator("#step-forward").click()
            assert page.locator("#replay-count").inner_text() == f"event {index + 1} of {count}"
            assert by_time[index][0] in page.locator("#replay-event").inner_text()
        # the event list shows only what happened up to the replay position
        assert page.locator("tr.event-row").count() == 4
        page.locator("#step-back").click()
        assert page.locator("tr.event-row").count() == 3
        page.locator("#to-live").click()
        assert page.locator("#replay-count").inner_text().endswith("(live)")
        assert page.locator("#timeline canvas").count() >= 1
        shot(page, "session")

    def test_usage_page(self, page: Any, dash: Dashboard) -> None:
        open_page(page, dash.base + "/usage")
        page.locator("#since").select_option("")  # the fixtures are older than the default 30 days
        page.locator("#usage-model tbody tr").first.wait_for()
        assert page.locator("#usage-daily canvas").count() >= 1
        shot(page, "usage")


@pytest.fixture
def live_page(
    home: Instance, page: Any
) -> Iterator[tuple[Instance, ClaudeSession, Any, Dashboard]]:
    """A running daemon, one live Claude session, the dashboard and its Session page open."""
    project = home.claude / "-tmp-live-project"
    project.mkdir(parents=True)
    session = ClaudeSession(project / "live.jsonl")
    call, line = session.call("echo warmup")
    session.append(line, session.result(call))
    home.wait_ready(home.start())
    expect(lambda: home.query("SELECT 1 FROM events WHERE tool_call_id = ?", (call,)), 20)
    dash = Dashboard(home)
    open_page(page, f"{dash.base}/sessions/1")
    page.wait_for_selector("#live.on")
    yield home, session, page, dash
    assert dash.stop() == 0


class TestLive:
    def test_appended_line_appears_within_a_second(
        self, live_page: tuple[Instance, ClaudeSession, Any, Dashboard]
    ) -> None:
        """Transcript append → row on the open page: median of 3 within 1 s."""
        _, session, page, _ = live_page
        delays = []
        for n in range(3):
            command = f"echo live-{n}-{time.monotonic_ns()}"
            _, line = session.call(command)
            start = time.monotonic()
            session.append(line)
            page.locator("td.detail", has_text=command).wait_for(timeout=10000)
            delays.append(time.monotonic() - start)
        assert statistics.median(delays) <= 1.0, delays
        shot(page, "session-live")

    def test_xss_command_renders_as_text(
        self, live_page: tuple[Instance, ClaudeSession, Any, Dashboard]
    ) -> None:
        """A command holding markup shows as those characters, on the Session and Now pages."""
        _, session, page, dash = live_page
        _, line = session.call(XSS)
        session.append(line)
        cell = page.locator("td.detail", has_text="onerror")
        cell.wait_for(timeout=10000)
        assert cell.first.text_content() == XSS
        assert page.locator("#events img").count() == 0
        page.wait_for_timeout(300)  # give an injected onerror the chance to run
        assert page.title() != "pwned"
        open_page(page, dash.base + "/")
        current = page.locator("tr.session-row td.detail", has_text="onerror")
        assert current.count() == 1
        assert XSS in current.first.text_content()
        assert page.locator("#sessions img").count() == 0
        assert page.title() != "pwned"
        shot(page, "xss-as-text")


class TestRestarts:
    def test_open_page_resumes_after_a_dashboard_restart(
        self, live_page: tuple[Instance, ClaudeSession, Any, Dashboard]
    ) -> None:
        """The dashboard stops, a line is committed meanwhile, a new dashboard starts on the same
        port: the page reconnects by itself and shows the line (Last-Event-ID resume)."""
        home, session, page, dash = live_page
        assert dash.stop() == 0
        page.wait_for_selector("#live.off")
        command = f"echo while-the-dashboard-was-down-{time.monotonic_ns()}"
        call, line = session.call(command)
        session.append(line)
        expect(lambda: home.query("SELECT 1 FROM events WHERE tool_call_id = ?", (call,)), 20)
        again = Dashboard(home, "--port", str(dash.port))
        try:
            page.locator("td.detail", has_text=command).wait_for(timeout=15000)
            page.wait_for_selector("#live.on")
            rows = page.locator("tr.event-row")
            ids = [rows.nth(i).get_attribute("data-id") for i in range(rows.count())]
            assert len(ids) == len(set(ids))  # nothing shown twice
        finally:
            assert again.stop() == 0


# Records the notifications the page raises (the permission is granted by the test's context).
_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class extends window.Notification {
  constructor(title, options) { super(title, options); window.__notes.push([title, options.body]); }
};
"""


class TestAttention:
    def test_crash_is_announced_on_the_now_page_and_notified(
        self, browser: Any, tmp_path: Path
    ) -> None:
        """A stand-in agent killed mid tool call: the tracker says crashed, and the open Now page
        shows it in the attention banner and raises a browser notification at once."""
        from tests.collector.tracker.rig import Rig

        rig = Rig(tmp_path)
        context = browser.new_context()
        try:
            rig.start()
            transcript = rig.transcript()
            agent = rig.agent("claude", transcript)
            agent.write(transcript.prompt(), transcript.tool_use("toolu_attention"))
            rig.wait_for(transcript.key, status="running", pid=agent.pid)
            dash = Dashboard(rig.instance)
            context.grant_permissions(["notifications"], origin=dash.base)
            context.add_init_script(_NOTIFICATIONS)
            page = context.new_page()
            open_page(page, dash.base + "/")
            page.wait_for_selector("#live.on")
            assert page.locator("#attention").is_hidden()
            agent.kill()
            killed = time.monotonic()
            page.locator("#attention a.needs.status-crashed").wait_for(timeout=10000)
            noticed = time.monotonic() - killed
            expect(lambda: page.evaluate("window.__notes.length") > 0, 5)
            title, _ = page.evaluate("window.__notes[0]")
            assert "crashed" in title
            assert page.locator("tr.session-row.row-crashed").count() == 1
            assert noticed < 5.0
            shot(page, "now-attention")
            assert dash.stop() == 0
        finally:
            context.close()
            rig.close()
