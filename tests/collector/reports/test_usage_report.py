"""``build_usage`` and the ``usage`` command over real stores filled with rows chosen here;
every expected cost is genai-prices' own ``calc_price`` on the same raw figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from collector.reports.usage import UsageQuery, build_usage, session_costs
from tests.collector.reports.store_rows import StoreRows


def list_price(model: str, when: str, **t: int) -> float:
    """genai-prices applied by hand to one request (input is the whole prompt)."""
    fresh, read, write = t.get("input", 0), t.get("cache_read", 0), t.get("cache_write", 0)
    usage = Usage(input_tokens=fresh + read + write, cache_read_tokens=read,
                  cache_write_tokens=write, cache_write_1h_tokens=t.get("cache_write_1h", 0),
                  output_tokens=t.get("output", 0) + t.get("beside", 0))  # fmt: skip
    moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return float(calc_price(usage, model, genai_request_timestamp=moment).total_price)


def report(db: Path, **query: Any) -> dict[str, Any]:
    return build_usage(db, UsageQuery(**query))


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


@pytest.fixture
def store(tmp_path: Path) -> StoreRows:
    return StoreRows(tmp_path / "events.db")


class TestCalendar:
    """Days in the report's time zone; a session crossing midnight splits by message time."""

    def test_midnight_split_follows_the_zone(self, store: StoreRows) -> None:
        sid = store.session("s")
        store.usage(sid, "2026-03-01T23:30:00.000Z", "claude-sonnet-4-5", input=10, output=1)
        store.usage(sid, "2026-03-02T00:30:00.000Z", "claude-sonnet-4-5", input=20, output=2)
        utc = report(store.path, timezone="UTC")["rows"]
        assert [(r["date"], r["input_tokens"]) for r in utc] == [("2026-03-01", 10),
                                                                ("2026-03-02", 20)]  # fmt: skip
        new_york = report(store.path, timezone="America/New_York")["rows"]
        assert [(r["date"], r["input_tokens"]) for r in new_york] == [("2026-03-01", 30)]
        kolkata = report(store.path, timezone="Asia/Kolkata")["rows"]
        assert [(r["date"], r["input_tokens"]) for r in kolkata] == [("2026-03-02", 30)]

    def test_quarter_hour_offsets(self, store: StoreRows) -> None:
        """Kathmandu is UTC+5:45: 18:10Z is 23:55 that day, 18:20Z is 00:05 the next."""
        sid = store.session("s")
        store.usage(sid, "2026-03-01T18:10:00.000Z", "gpt-5", input=1)
        store.usage(sid, "2026-03-01T18:20:00.000Z", "gpt-5", input=2)
        rows = report(store.path, timezone="Asia/Kathmandu")["rows"]
        assert [(r["date"], r["input_tokens"]) for r in rows] == [("2026-03-01", 1),
                                                                 ("2026-03-02", 2)]  # fmt: skip

    def test_days_across_a_summer_time_change(self, store: StoreRows) -> None:
        """Paris, 2025-10-26: +2 h until 01:00 UTC, +1 h after; each row on its own day."""
        sid = store.session("s")
        for stamp, tokens in (
            ("2025-10-25T22:30:00.000Z", 1),  # 00:30 on the 26th (+2)
            ("2025-10-26T22:30:00.000Z", 2),  # 23:30 on the 26th (+1)
            ("2025-10-26T23:30:00.000Z", 4),
        ):  # 00:30 on the 27th (+1)
            store.usage(sid, stamp, "gpt-5", input=tokens)  # fmt: skip
        rows = report(store.path, timezone="Europe/Paris")["rows"]
        assert [(r["date"], r["input_tokens"]) for r in rows] == [("2025-10-26", 3),
                                                                 ("2025-10-27", 4)]  # fmt: skip

    def test_weeks_months_and_window(self, store: StoreRows) -> None:
        sid = store.session("s")
        for stamp in ("2026-02-28T12:00:00.000Z", "2026-03-02T12:00:00.000Z",
                      "2026-03-09T12:00:00.000Z"):  # fmt: skip
            store.usage(sid, stamp, "gpt-5", input=1)
        weeks = report(store.path, group="weekly", timezone="UTC")["rows"]
        assert [(r["week"], r["input_tokens"]) for r in weeks] == [
            ("2026-02-23", 1), ("2026-03-02", 1), ("2026-03-09", 1)]  # fmt: skip
        months = report(store.path, group="monthly", timezone="UTC")["rows"]
        assert [(r["month"], r["input_tokens"]) for r in months] == [("2026-02", 1),
                                                                    ("2026-03", 2)]  # fmt: skip
        window = report(store.path, timezone="UTC", since="2026-03-01T00:00:00.000Z",
                        until="2026-03-09T00:00:00.000Z")  # fmt: skip
        assert [r["date"] for r in window["rows"]] == ["2026-03-02"]


class TestAttribution:
    """Subagents roll into their parent; worktrees into their repository; branches."""

    @pytest.fixture
    def tree(self, store: StoreRows) -> dict[str, int]:
        parent = store.session("p", project_dir="/src/app", git_branch="feat/x",
                               last_activity="2026-03-01T12:00:00.000Z")  # fmt: skip
        sub = store.session("sub", project_dir="/src/app/.claude/worktrees/agent-1",
                            git_branch="worktree-agent-1", parent_session_id=parent)  # fmt: skip
        bare = store.session("bare", parent_session_id=parent)  # no cwd, no branch
        other = store.session("o", agent="codex", project_dir="/src/tool", git_branch="main")
        ids = {"parent": parent, "sub": sub, "bare": bare, "other": other}
        for sid in ids.values():
            store.usage(sid, "2026-03-01T10:00:00.000Z", "gpt-5", input=1000 * (sid + 1))
        return ids

    def test_sessions_roll_up_unless_flat(self, store: StoreRows, tree: dict[str, int]) -> None:
        rows = by(report(store.path, group="session")["rows"], "session_key")
        assert set(rows) == {"p", "o"}
        assert rows["p"]["subagents"] == 2
        parts = sum(1000 * (tree[n] + 1) for n in ("parent", "sub", "bare"))
        assert rows["p"]["input_tokens"] == parts
        assert rows["p"]["agent_session_id"] == "p"
        flat = by(report(store.path, group="session", flat=True)["rows"], "session_key")
        assert set(flat) == {"p", "sub", "bare", "o"}
        assert flat["sub"]["input_tokens"] == 1000 * (tree["sub"] + 1)

    def test_projects_fold_worktrees(self, store: StoreRows, tree: dict[str, int]) -> None:
        rows = by(report(store.path, group="project")["rows"], "project")
        assert set(rows) == {"/src/app", "/src/tool"}
        assert rows["/src/app"]["sessions"] == 1
        assert rows["/src/tool"]["agent"] == "codex"

    def test_branches(self, store: StoreRows, tree: dict[str, int]) -> None:
        rows = by(report(store.path, group="branch")["rows"], "branch")
        assert set(rows) == {"feat/x", "worktree-agent-1", "main"}
        # the subagent without a branch of its own counts on its parent's
        expected = 1000 * (tree["parent"] + 1) + 1000 * (tree["bare"] + 1)
        assert rows["feat/x"]["input_tokens"] == expected

    @pytest.mark.parametrize(("filters", "keys"), [
        ({"agent": "codex"}, {"o"}),
        ({"project": "app"}, {"p"}),
        ({"project": "/src"}, {"p", "o"}),
        ({"branch": "main"}, {"o"}),
    ])  # fmt: skip
    def test_filters(self, store: StoreRows, tree: dict[str, int], filters: dict[str, str],
                     keys: set[str]) -> None:  # fmt: skip
        rows = report(store.path, group="session", **filters)["rows"]
        assert {r["session_key"] for r in rows} == keys

    def test_breakdown_per_model(self, store: StoreRows, tree: dict[str, int]) -> None:
        store.usage(tree["parent"], "2026-03-01T11:00:00.000Z", "claude-opus-4-5", output=7)
        row = report(store.path, group="session", breakdown=True)["rows"]
        parent = by(row, "session_key")["p"]
        parts = by(parent["breakdown"], "model")
        assert set(parts) == {"gpt-5", "claude-opus-4-5"}
        assert parts["claude-opus-4-5"]["output_tokens"] == 7
        assert sum(p["cost_usd"] for p in parts.values()) == pytest.approx(parent["cost_usd"])


class TestCosts:
    """Each kind of token at its rate, per genai-prices."""

    def test_cache_writes_reasoning_and_tiers(self, store: StoreRows) -> None:
        when = "2026-03-01T10:00:00.000Z"
        claude = store.session("c")
        store.usage(claude, when, "claude-opus-4-7", input=5, output=900, cache_write=40000,
                    cache_write_1h=30000, cache_read=100000)  # fmt: skip
        big = store.session("big")
        store.usage(big, when, "claude-sonnet-4-5-20250929", input=3000, output=2500,
                    cache_write=20000, cache_read=190000)  # fmt: skip
        codex = store.session("x", agent="codex")
        store.usage(codex, when, "gpt-5-codex", input=7000, output=1200, cache_read=6000,
                    reasoning=800)  # fmt: skip
        gemini = store.session("g", agent="gemini")
        store.usage(gemini, when, "gemini-2.5-pro", input=25000, output=1400, cache_read=6000,
                    reasoning=2900)  # fmt: skip
        rows = by(report(store.path, group="session")["rows"], "session_key")
        assert rows["c"]["cost_usd"] == pytest.approx(list_price(
            "claude-opus-4-7", when, input=5, output=900, cache_write=40000,
            cache_write_1h=30000, cache_read=100000), rel=1e-6)  # fmt: skip
        assert rows["big"]["cost_usd"] == pytest.approx(list_price(
            "claude-sonnet-4-5", when, input=3000, output=2500, cache_write=20000,
            cache_read=190000), rel=1e-6)  # fmt: skip
        assert rows["x"]["cost_usd"] == pytest.approx(list_price(
            "gpt-5", when, input=7000, output=1200, cache_read=6000), rel=1e-6)  # fmt: skip
        assert rows["g"]["cost_usd"] == pytest.approx(list_price(
            "gemini-2.5-pro", when, input=25000, output=1400, beside=2900, cache_read=6000),
            rel=1e-6)  # fmt: skip
        assert rows["g"]["total_tokens"] == 25000 + 1400 + 6000 + 2900
        assert rows["x"]["total_tokens"] == 7000 + 1200 + 6000

    def test_unknown_models_are_never_zero(self, store: StoreRows, tmp_path: Path) -> None:
        sid = store.session("s", agent="copilot")
        store.usage(sid, "2026-03-01T10:00:00.000Z", "qwen3:0.6b", input=2050, output=304)
        store.usage(sid, "2026-03-01T10:01:00.000Z", None, input=1, output=1)
        result = report(store.path)
        assert result["rows"][0]["cost_usd"] is None
        assert result["totals"]["cost_usd"] is None
        assert result["totals"]["unpriced_models"] == {"qwen3:0.6b": 1, "unknown": 1}
        assert result["pricing"]["models"] == {"qwen3:0.6b": None, "unknown": None}
        prices = tmp_path / "prices.toml"
        prices.write_text('[models."qwen3:*"]\ninput = 1\noutput = 2\n'
                          '[models."unknown"]\ninput = 0\noutput = 0\n')  # fmt: skip
        priced = report(store.path, pricing_file=str(prices))
        assert priced["totals"]["cost_usd"] == pytest.approx((2050 + 304 * 2) / 1e6)
        assert priced["pricing"]["overrides"] == str(prices)
        assert priced["pricing"]["models"]["qwen3:0.6b"] == "override:qwen3:*"

    def test_session_costs(self, store: StoreRows) -> None:
        when = "2026-03-01T10:00:00.000Z"
        known = store.session("k")
        store.usage(known, when, "gpt-5", input=1000, output=100)
        child = store.session("kc", parent_session_id=known)
        store.usage(child, when, "gpt-5", input=1000)
        unknown = store.session("u")
        store.usage(unknown, when, "qwen3:0.6b", input=1)
        idle = store.session("i")
        costs = session_costs(store.path, [known, unknown, idle, 999])
        assert costs == {known: pytest.approx(list_price("gpt-5", when, input=1000, output=100)),
                         unknown: None, idle: 0.0, 999: 0.0}  # fmt: skip


class TestBlocksReport:
    def test_blocks_and_active_block(self, store: StoreRows) -> None:
        sid = store.session("s")
        store.usage(sid, "2026-03-01T09:10:00.000Z", "gpt-5", input=600)
        store.usage(sid, "2026-03-01T09:40:00.000Z", "gpt-5", input=600)
        store.usage(sid, "2026-03-01T20:00:00.000Z", "gpt-5", input=100)
        now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        query = UsageQuery(group="blocks", until="2026-03-01T10:00:00.000Z")
        rows = build_usage(store.path, query, now=now)["rows"]
        assert [(r["block_start"], r["block_end"], r["is_active"]) for r in rows] == [
            ("2026-03-01T09:00:00.000Z", "2026-03-01T14:00:00.000Z", True)]  # fmt: skip
        assert rows[0]["burn_rate"]["tokens_per_minute"] == 40.0
        assert rows[0]["projection"]["total_tokens"] == 1200 + 40 * 240
        store.usage(sid, "2026-03-01T09:50:00.000Z", "claude-haiku-4-5", output=5)
        every = build_usage(store.path, UsageQuery(group="blocks", breakdown=True), now=now)["rows"]
        parts = {p["model"]: p["input_tokens"] + p["output_tokens"] for p in every[0]["breakdown"]}
        assert parts == {"gpt-5": 1200, "claude-haiku-4-5": 5}
        assert [r["block_start"] for r in every] == ["2026-03-01T09:00:00.000Z",
                                                     "2026-03-01T20:00:00.000Z"]  # fmt: skip


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "AGENT_VIZ"))}
    env.update(HOME=str(home), COLUMNS="140")
    return subprocess.run([sys.executable, "-m", "collector.cli", "usage", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


class TestCommandLine:
    """The command: output forms, empty stores, errors with exit 2 and the valid values."""

    def test_empty_store(self, store: StoreRows, tmp_path: Path) -> None:
        done = cli(tmp_path, "--db", str(store.path))
        assert done.returncode == 0, done.stderr
        assert "No usage recorded" in done.stdout
        assert "Total" in done.stdout
        as_json = json.loads(cli(tmp_path, "session", "--json", "--db", str(store.path)).stdout)
        assert as_json["rows"] == []
        assert as_json["totals"]["total_tokens"] == 0
        assert as_json["totals"]["cost_usd"] == 0.0

    def test_only_unknown_models_says_why(self, store: StoreRows, tmp_path: Path) -> None:
        sid = store.session("s", agent="copilot")
        store.usage(sid, "2026-03-01T10:00:00.000Z", "qwen3:0.6b", input=10, output=1)
        done = cli(tmp_path, "--db", str(store.path), "--timezone", "UTC")
        assert done.returncode == 0, done.stderr
        assert "unknown" in done.stdout
        assert "only models without a price: qwen3:0.6b (1 requests)" in " ".join(
            done.stdout.split()
        )

    def test_json_shape_and_csv(self, store: StoreRows, tmp_path: Path) -> None:
        sid = store.session("s", project_dir="/src/app", git_branch="main")
        store.usage(sid, "2026-03-01T10:00:00.000Z", "gpt-5", input=10, output=1)
        data = json.loads(cli(tmp_path, "session", "--json", "--db", str(store.path)).stdout)
        assert set(data) >= {"group", "rows", "totals", "pricing"}
        assert data["group"] == "session"
        assert data["pricing"]["source"] == "genai-prices"
        assert data["pricing"]["version"]
        row = data["rows"][0]
        for name in ("session_key", "agent_session_id", "agent", "input_tokens", "output_tokens",
                     "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens",
                     "total_tokens", "cost_usd"):  # fmt: skip
            assert name in row
        lines = cli(tmp_path, "model", "--csv", "--db", str(store.path)).stdout.splitlines()
        assert lines[0].split(",")[:3] == ["model", "agent", "input_tokens"]
        assert lines[1].startswith("gpt-5,claude-code,10,1,")

    @pytest.mark.parametrize(("args", "says"), [
        (["--agent", "cursor"], "claude-code"),
        (["hourly"], "daily"),
        (["--timezone", "Mars/Olympus"], "IANA"),
        (["--since", "last tuesday"], "7d"),
        (["--json", "--csv"], "not allowed"),
    ])  # fmt: skip
    def test_bad_options_exit_2(self, store: StoreRows, tmp_path: Path, args: list[str],
                                says: str) -> None:  # fmt: skip
        done = cli(tmp_path, *args, "--db", str(store.path))
        assert done.returncode == 2
        assert says in done.stderr

    def test_bad_price_file_exit_2(self, store: StoreRows, tmp_path: Path) -> None:
        prices = tmp_path / "p.toml"
        prices.write_text('[models."x"]\ninput = 1\n')
        done = cli(tmp_path, "--pricing", str(prices), "--db", str(store.path))
        assert done.returncode == 2
        assert f"{prices}: models.x: input and output prices are required" in done.stderr

    def test_missing_database_exit_1(self, tmp_path: Path) -> None:
        done = cli(tmp_path, "--db", str(tmp_path / "none.db"))
        assert done.returncode == 1
        assert "does not exist" in done.stderr


class TestUsageDailyView:
    """The SQL view a dashboard reads agrees with the report in the machine's zone."""

    def test_view_matches_daily_report(self, store: StoreRows) -> None:
        import sqlite3

        claude, gemini = store.session("c"), store.session("g", agent="gemini")
        store.usage(claude, "2026-03-01T23:50:00.000Z", "claude-opus-4-5", input=5, output=7,
                    cache_write=11, cache_read=13)  # fmt: skip
        store.usage(gemini, "2026-03-02T00:10:00.000Z", "gemini-2.5-pro", input=17, output=19,
                    cache_read=23, reasoning=29)  # fmt: skip
        rows = report(store.path)["rows"]
        with closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as conn:
            view = conn.execute("SELECT date, SUM(input_tokens), SUM(output_tokens), "
                                "SUM(reasoning_tokens), SUM(total_tokens) FROM usage_daily "
                                "GROUP BY date ORDER BY date").fetchall()  # fmt: skip
        ours = [(r["date"], r["input_tokens"], r["output_tokens"], r["reasoning_tokens"],
                 r["total_tokens"]) for r in rows]  # fmt: skip
        assert ours == view


def test_cli_startup_does_not_load_the_price_list() -> None:
    """Every command (Claude Code's hook on each event) builds the whole parser: the price
    list and the report code load only when ``usage`` runs."""
    code = ("import sys, collector.cli; collector.cli._parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('genai_prices', "
            "'collector.reports.usage', 'collector.reports.pricing'))))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"
