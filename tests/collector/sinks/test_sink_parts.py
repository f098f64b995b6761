"""The sink's pure parts, by tables: the config table, failure diagnosis, back-off, the machine
id, and the writer's subscriber call (a failing subscriber is counted, never fatal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.counters import Counters
from collector.ingest.commit.writer import WriterThread
from collector.sinks.backoff import Backoff
from collector.sinks.diagnose import diagnose
from collector.sinks.machine import derive_machine_id, machine_identity
from config import ConfigError, load_config
from config.sinks import mask_dsn
from store import EventStore
from store.feed import CommitSummary
from store.records import Chunk, Event
from tests.collector.sinks.pg_server import wait_for


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, {"HOME": str(tmp_path)})


class TestConfig:
    def test_absent_means_disabled(self, tmp_path: Path) -> None:
        config = load(tmp_path, "")
        pg = config.sinks.postgres  # type: ignore[attr-defined]
        assert (pg.enabled, pg.include_raw, pg.machine, pg.batch_rows) == (False, False, "", 5000)

    def test_valid_table(self, tmp_path: Path) -> None:
        text = (
            '[sinks.postgres]\nenabled = true\ndsn = "host=db sslmode=require"\n'
            'machine = "laptop-1"\nbatch_rows = 200\nretry_max = 5\n'
        )
        config = load(tmp_path, text)
        pg = config.sinks.postgres  # type: ignore[attr-defined]
        assert (pg.dsn, pg.machine, pg.batch_rows, pg.retry_max) == (
            "host=db sslmode=require", "laptop-1", 200, 5.0)  # fmt: skip

    @pytest.mark.parametrize(
        ("text", "line", "key", "reason"),
        [
            ("[sinks.postgres]\nbatch_rows = 0\n", 2, "sinks.postgres.batch_rows",
             "greater than 0"),
            ("[sinks.postgres]\nenabled = 1\n", 2, "sinks.postgres.enabled", "true or false"),
            ("[sinks.postgres]\ncolour = 1\n", 2, "sinks.postgres.colour", "unknown key"),
            ("[sinks.kafka]\nx = 1\n", 1, "sinks.kafka", "unknown sink"),
            ('[sinks.postgres]\ndsn = "a=1"\ndsn_file = "/x"\n', 3, "sinks.postgres.dsn_file",
             "not both"),
            ('[sinks.postgres]\ndsn = "host=h bogus=1"\n', 2, "sinks.postgres.dsn",
             'invalid connection option "bogus"'),
            ('[sinks.postgres]\nmachine = "has space"\n', 2, "sinks.postgres.machine", "letters"),
            ('[sinks.postgres]\ndsn_file = "relative"\n', 2, "sinks.postgres.dsn_file",
             "absolute"),
        ],
    )  # fmt: skip
    def test_errors_name_file_line_key(
        self, tmp_path: Path, text: str, line: int, key: str, reason: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, text)
        assert (caught.value.line, caught.value.key) == (line, key)
        assert reason in caught.value.reason

    def test_password_never_shown(self, tmp_path: Path) -> None:
        config = load(tmp_path, "[sinks.postgres]\ndsn = \"host=h password='p w' user=u\"\n")
        shown = str(config.to_dict())  # type: ignore[attr-defined]
        assert "p w" not in shown
        assert "****" in shown
        assert mask_dsn("postgresql://u:secret@h:5432/db") == "postgresql://u:****@h:5432/db"
        assert mask_dsn("host=h password=secret") == "host=h password=****"


@pytest.mark.parametrize(
    ("sqlstate", "message", "kind", "retry"),
    [
        (None, 'connection failed: FATAL:  password authentication failed for user "u"',
         "auth", False),
        (None, "connection failed: FATAL:  no pg_hba.conf entry for host, no encryption", "tls",
         False),
        (None, "connection failed: Connection refused\n\tIs the server running", "unreachable",
         True),
        (None, "connection failed: timeout expired", "unreachable", True),
        (None, "failed to resolve host 'x': Name or service not known", "dns", False),
        ("25006", "cannot execute INSERT in a read-only transaction", "read_only", True),
        ("53100", "could not extend file: No space left on device", "disk_full", True),
        ("57014", "canceling statement due to statement timeout", "slow", True),
        ("42703", 'column "preview" does not exist', "schema", True),
        ("23514", 'new row for relation "events" violates check constraint', "rejected", True),
        ("22P02", "invalid input syntax for type bigint", "rejected", True),
        ("XX000", "something odd", "other", True),
    ],
)  # fmt: skip
def test_diagnose(sqlstate: str | None, message: str, kind: str, retry: bool) -> None:
    why = diagnose(sqlstate, message)
    assert (why.kind, why.retry) == (kind, retry)
    assert why.cause
    assert why.fix


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.5, cap=4.0)
    assert [backoff.next_delay(0.5) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert 0.8 * 4.0 <= backoff.next_delay(0.0) <= 4.0
    backoff.reset()
    assert backoff.next_delay(0.5) == 0.5


def test_machine_id(tmp_path: Path) -> None:
    """Stable, not the raw machine-id, different per machine; the host name is the label; a
    configured id wins; no machine-id file falls back to the host name."""
    id_file = tmp_path / "machine-id"
    id_file.write_text("0123456789abcdef0123456789abcdef\n")
    first = machine_identity("", [id_file], "box")
    assert first == (*machine_identity("", [id_file], "renamed")[:1], "box")
    assert first[0].startswith("m-")
    assert "0123456789abcdef" not in first[0]
    assert first[0] != derive_machine_id("fedcba9876543210fedcba9876543210", "box")
    assert machine_identity("laptop", [id_file], "box") == ("laptop", "box")
    assert machine_identity("", [tmp_path / "absent"], "box")[0] == derive_machine_id("", "box")


class _Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.summaries: list[CommitSummary] = []
        self.fail = fail

    def on_commit(self, summary: CommitSummary) -> None:
        self.summaries.append(summary)
        if self.fail:
            raise RuntimeError("subscriber bug")


def test_writer_tells_subscribers_after_commit(tmp_path: Path) -> None:
    """Each commit reaches every subscriber with the new rows' ids; one that raises is counted
    and the writer goes on."""
    counters = Counters()
    good, bad = _Recorder(), _Recorder(fail=True)
    with EventStore(tmp_path / "events.db") as store:
        writer = WriterThread(store, counters, subscribers=[bad, good])
        writer.start()
        try:
            key = "claude-code:11111111-2222-3333-4444-555555555555"
            for n in range(2):
                event = Event(session_id=key, agent_event_id=f"e{n}", event_type="message",
                              timestamp=f"2026-01-02T10:00:0{n}.000Z")  # fmt: skip
                writer.put(Chunk([event]))
                assert wait_for(lambda n=n: len(good.summaries) > n, 10)
        finally:
            writer.close()
    assert [(s.first_event_id, s.last_event_id) for s in good.summaries] == [(1, 1), (2, 2)]
    assert all(len(s.session_ids) == 1 for s in good.summaries)
    assert counters.get("subscriber_errors") == 2
