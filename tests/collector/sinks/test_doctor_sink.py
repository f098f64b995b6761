"""``doctor`` names why the team's PostgreSQL cannot be used: a wrong password, a host where
nothing listens, a server that wants TLS; and says what works when it does."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.collector.sinks.pg_server import PgServer, free_port
from tests.collector.sinks.sink_harness import sink_instance


def _sink_checks(tmp_path: Path, pg: PgServer, dbname: str, dsn: str) -> dict[str, dict[str, str]]:
    instance = sink_instance(tmp_path, pg, dbname, sinks__postgres__dsn=f'"{dsn}"')
    done = instance.run("doctor", "--json")
    checks = orjson.loads(done.stdout)["checks"]
    return {c["name"]: c for c in checks if c["name"].startswith("sink")}


@pytest.mark.parametrize(
    "case_cause_fix",
    [
        pytest.param(("password", "wrong password", "password"), id="password"),
        pytest.param(
            ("refused", "nothing listens at that host and port", "start the server"),
            id="unreachable",
        ),
        pytest.param(("tls", "the server requires TLS", "sslmode=require"), id="tls"),
        pytest.param(("dns", "the host name does not resolve", "host"), id="dns"),
    ],
)
def test_doctor_names_the_cause(
    tmp_path: Path, pg: PgServer, pg_db: str, case_cause_fix: tuple[str, str, str]
) -> None:
    """Each failure is one failed ``sink postgres`` line with its cause and fix; the password
    never appears in the output."""
    case, cause, fix = case_cause_fix
    dsn = {
        "password": pg.tcp_dsn(pg_db, password="wrong-one"),
        "refused": f"host=127.0.0.1 port={free_port()} user=avm dbname={pg_db}",
        "tls": pg.tcp_dsn(pg_db, user="tlsonly"),
        "dns": f"host=no-such-host.invalid user=avm dbname={pg_db} connect_timeout=3",
    }[case]
    checks = _sink_checks(tmp_path, pg, pg_db, dsn)
    line = checks["sink postgres"]
    assert line["level"] == "fail"
    assert cause in line["message"]
    assert fix in line["fix"]
    assert "wrong-one" not in str(checks)


def test_doctor_reports_a_working_sink(tmp_path: Path, pg: PgServer, pg_db: str) -> None:
    """Connected: the server version (≥ 13), the schema (not created yet), the lag."""
    checks = _sink_checks(tmp_path, pg, pg_db, pg.tcp_dsn(pg_db))
    assert checks["sink postgres"]["level"] == "ok"
    assert "PostgreSQL 1" in checks["sink postgres"]["message"]
    assert checks["sink schema"]["message"] == "no central schema yet: the shipper creates it"
    assert checks["sink lag"]["level"] == "ok"
