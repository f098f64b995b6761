"""The pure parts of the reports: price files, 5-hour blocks, worktree folding, calendar keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from collector.reports.blocks import Request, split_blocks
from collector.reports.grouping import calendar_key
from collector.reports.price_file import load_price_file
from collector.reports.pricing import TokenCounts
from collector.reports.projects import fold_worktree
from config.errors import ConfigError

T0 = datetime(2026, 3, 2, 9, 37, tzinfo=UTC)


def request(minutes: float, tokens: int = 100, cost: float | None = 0.01) -> Request:
    return Request(T0 + timedelta(minutes=minutes), TokenCounts(tokens, 0, 0, 0, 0), cost,
                   "m", "claude-code")  # fmt: skip


class TestBlocks:
    """ccusage's 5-hour windows."""

    def test_starts_on_the_hour_and_lasts_five_hours(self) -> None:
        blocks = split_blocks([request(0), request(100), request(200)])
        assert len(blocks) == 1
        assert blocks[0].start == T0.replace(minute=0)
        assert blocks[0].end == T0.replace(minute=0) + timedelta(hours=5)
        assert blocks[0].tally.input_tokens == 300

    def test_a_request_past_five_hours_from_the_start_opens_the_next(self) -> None:
        """09:00 block: a request at 14:07 (5 h 7 min after 09:00) opens a 14:00 block."""
        blocks = split_blocks([request(0), request(200), request(270)])
        assert [b.start.hour for b in blocks] == [9, 14]

    def test_a_quiet_spell_over_five_hours_opens_the_next(self) -> None:
        blocks = split_blocks([request(0), request(301 + 60 * 5)])
        assert len(blocks) == 2
        assert blocks[1].first == T0 + timedelta(minutes=601)

    def test_active_block_burn_rate_and_projection(self) -> None:
        """60 min of use, 6000 tokens and $0.60: 100 tokens/min; the block (09:00–14:00)
        has 120 minutes left at 12:00, so 6000 + 100 × 120 tokens are projected."""
        blocks = split_blocks([request(0, 3000, 0.3), request(60, 3000, 0.3)])
        now = T0.replace(minute=0) + timedelta(hours=3)  # 12:00
        row = blocks[0].as_json(now)
        assert row["is_active"]
        assert row["burn_rate"] == {"tokens_per_minute": 100.0, "cost_per_hour": 0.6}
        assert row["projection"]["remaining_minutes"] == 120
        assert row["projection"]["total_tokens"] == 6000 + 100 * 120
        assert row["projection"]["cost_usd"] == pytest.approx(0.6 + 0.01 * 120)
        later = blocks[0].as_json(now + timedelta(hours=3))
        assert not later["is_active"]
        assert "burn_rate" not in later

    def test_unpriced_requests_make_the_block_cost_unknown(self) -> None:
        blocks = split_blocks([request(0), request(1, cost=None)])
        row = blocks[0].as_json(T0 + timedelta(minutes=2))
        assert row["cost_usd"] is None
        assert row["projection"]["cost_usd"] is None
        assert row["unpriced_models"] == {"m": 1}


class TestWorktrees:
    """Worktrees fold into their repository; anything else stays as it is."""

    @pytest.mark.parametrize(("folder", "gitfile", "repo"), [
        ("/src/app/.claude/worktrees/agent-a4ca7529", None, "/src/app"),
        ("/src/app-wt", "gitdir: /src/app/.git/worktrees/app-wt\n", "/src/app"),
        ("/src/app-wt", "gitdir: ../app/.git/worktrees/app-wt\n", "/src/app"),
        ("/src/app", None, "/src/app"),
        ("/src/sub", "gitdir: /src/app/.git/modules/sub\n", "/src/sub"),  # a submodule
        (None, None, None),
    ])  # fmt: skip
    def test_fold(self, folder: str | None, gitfile: str | None, repo: str | None) -> None:
        assert fold_worktree(folder, lambda _path: gitfile) == repo

    def test_real_git_worktree(self, tmp_path: Path) -> None:
        """A worktree made by git itself."""
        import subprocess

        repo = tmp_path / "repo"
        repo.mkdir()
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        }
        for args in (
            ["init", "-q"],
            ["commit", "-q", "--allow-empty", "-m", "x"],
            ["worktree", "add", "-q", str(tmp_path / "wt"), "-b", "feature"],
        ):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True)  # fmt: skip
        assert fold_worktree(str(tmp_path / "wt")) == str(repo)
        assert fold_worktree(str(repo)) == str(repo)


class TestCalendar:
    def test_keys(self) -> None:
        day = date(2026, 3, 5)  # a Thursday
        assert calendar_key("daily", day) == "2026-03-05"
        assert calendar_key("weekly", day) == "2026-03-02"
        assert calendar_key("monthly", day) == "2026-03"

    def test_day_starts_are_local_midnights(self) -> None:
        """Paris leaves summer time on 2025-10-26: that day starts at 22:00 UTC the day
        before, the next at 23:00 UTC."""
        from zoneinfo import ZoneInfo

        from collector.reports.grouping import day_starts

        first_day, starts = day_starts(ZoneInfo("Europe/Paris"), "2025-10-25T22:30:00.000Z",
                                       "2025-10-28T10:00:00.000Z")  # fmt: skip
        assert first_day == date(2025, 10, 26)
        assert starts == ["2025-10-26T23:00:00.000Z", "2025-10-27T23:00:00.000Z"]
        kathmandu = day_starts(ZoneInfo("Asia/Kathmandu"), "2026-01-01T18:10:00.000Z",
                               "2026-01-01T18:20:00.000Z")  # fmt: skip
        assert kathmandu == (date(2026, 1, 1), ["2026-01-01T18:15:00.000Z"])


class TestPriceFile:
    """--pricing FILE: what it accepts, and errors naming the key."""

    def test_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "prices.toml"
        path.write_text('[models."qwen3:*"]\ninput = 0.5\noutput = 2\n'
                        'tiers = [{ above = 1000, input = 1 }]\n')  # fmt: skip
        prices = load_price_file(path)
        assert prices == {"qwen3:*": {"input": (Decimal("0.5"), ((1000, Decimal(1)),)),
                                      "output": (Decimal(2), ())}}  # fmt: skip

    def test_json(self, tmp_path: Path) -> None:
        path = tmp_path / "prices.json"
        path.write_text('{"models": {"x": {"input": 1, "output": 2, "reasoning": 3}}}')
        assert load_price_file(path)["x"]["reasoning"] == (Decimal(3), ())

    @pytest.mark.parametrize(("text", "key"), [
        ('[models."x"]\ninput = 1\n', "models.x"),
        ('[models."x"]\ninput = 1\noutput = -2\n', "models.x.output"),
        ('[models."x"]\ninput = 1\noutput = 2\ncache = 3\n', "models.x.cache"),
        ('[models."x"]\ninput = 1\noutput = 2\ntiers = [{ input = 2 }]\n',
         "models.x.tiers[0].above"),
        ('[models."x"]\ninput = "a"\noutput = 2\n', "models.x.input"),
        ("models = 3\n", "models"),
        ("not toml [", ""),
    ])  # fmt: skip
    def test_errors(self, tmp_path: Path, text: str, key: str) -> None:
        path = tmp_path / "prices.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_price_file(path)
        assert caught.value.key == key
        assert str(path) in str(caught.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            load_price_file(tmp_path / "nope.toml")
