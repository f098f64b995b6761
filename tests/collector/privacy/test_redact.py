"""Redaction: each provider's documented key shape is replaced, ordinary text is left alone,
and real fixture lines carrying a secret come out of parsing + scrubbing without it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.parsers import make_parser
from collector.parsers.sources import classify
from collector.privacy import redact, scrub_records
from store.records import Event, Record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# Documented example shapes (the providers' own docs and examples), fake where published fake.
OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 4 + "T3BlbkFJ" + "q1W2e3R4t5Y6u7I8o9P0"
OPENAI_LEGACY = "sk-" + "a1B2c3D4e5F6g7H8i9J0" + "T3BlbkFJ" + "k1L2m3N4o5P6q7R8s9T0"
ANTHROPIC = "sk-ant-api03-" + "x" * 20 + "Y7_z-" + "Q" * 64 + "AA"
GITHUB_CLASSIC = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_OAUTH = "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_FINE = "github_pat_11ABCDEFG0123456789abc_" + "d" * 59
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
GOOGLE = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
    "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0t\n"
    "-----END RSA PRIVATE KEY-----"
)

SECRET_CASES = [
    ("openai_key", f"export OPENAI_API_KEY={OPENAI} && python run.py", OPENAI),
    ("openai_key", f"client = OpenAI(api_key='{OPENAI_LEGACY}')", OPENAI_LEGACY),
    ("anthropic_key", f"ANTHROPIC_API_KEY={ANTHROPIC} claude", ANTHROPIC),
    ("github_token", f"git clone https://{GITHUB_CLASSIC}@github.com/o/r.git", GITHUB_CLASSIC),
    ("github_token", f"gh auth login --with-token <<< {GITHUB_OAUTH}", GITHUB_OAUTH),
    ("github_token", f"GH_TOKEN={GITHUB_FINE} gh pr list", GITHUB_FINE),
    ("aws_access_key", f"aws configure set aws_access_key_id {AWS_ID}", AWS_ID),
    ("aws_secret_key", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("slack_token", f"curl -d token={SLACK} https://slack.com/api/chat.postMessage", SLACK),
    ("google_api_key", f"curl 'https://maps.googleapis.com/x?key={GOOGLE}'", GOOGLE),
    ("jwt", f"echo {JWT} | cut -d. -f2", JWT),
    ("private_key", f"cat > id_rsa <<EOF\n{PEM}\nEOF", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo"),
    (
        "private_key",
        orjson.dumps({"content": PEM}).decode(),
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo",
    ),
    (
        "authorization",
        'curl -H "Authorization: Bearer abc123def456ghi789" https://api',
        "abc123def456ghi789",
    ),
    (
        "authorization",
        "curl -H 'authorization: Basic dXNlcjpwYXNzd29yZA==' x",
        "dXNlcjpwYXNzd29yZA==",
    ),
    (
        "url_password",
        "psql postgresql://app:hunter2-Secret@db.internal:5432/prod",
        "hunter2-Secret",
    ),
    (
        "secret_assignment",
        "DATABASE_PASSWORD=correct-horse-battery npm start",
        "correct-horse-battery",
    ),
    (
        "secret_assignment",
        "export STRIPE_SECRET=rk_live_51Habcdefghijkl",
        "rk_live_51Habcdefghijkl",
    ),
    ("secret_assignment", "MY_SERVICE_TOKEN='s3cr3t-t0k3n-value' ./deploy", "s3cr3t-t0k3n-value"),
    ("secret_field", '{"api_key": "0123456789abcdef", "model": "x"}', "0123456789abcdef"),
    ("secret_field", '{\\"password\\": \\"hunter22\\"}', "hunter22"),
]

CLEAN = [
    "cargo test --workspace -- --nocapture",
    "git commit -m 'fix: task-runner handles disk-usage-report-generator-tool names'",
    '{"max_tokens": 4096, "input_tokens": 12, "output_tokens": 40, "cache_read_input_tokens": 0}',
    "MAX_TOKENS=4096 python bench.py",
    "monkey=banana keyboard=us",
    "export PASSWORD=$DB_PASSWORD && echo ${API_KEY}",
    "grep -rn 'sk-' src/ && ls ~/.ssh",
    "see https://example.com:8080/path?x=1 and ssh://host/repo",
    "sha256 3f786850e387550fdab836ed7e6dc881de23001b AKIA is a prefix",
    "Authorization header handling lives in auth.py",
    "Read the private key docs",
]


class TestShapes:
    """One documented example per provider; what is left holds no part of the secret."""

    @pytest.mark.parametrize(("kind", "text", "secret"), SECRET_CASES)
    def test_secret_is_replaced(self, kind: str, text: str, secret: str) -> None:
        """The secret is gone and its kind is named."""
        out, count = redact(text)
        assert secret not in out
        assert f"[REDACTED:{kind}]" in out
        assert count >= 1

    @pytest.mark.parametrize("text", CLEAN)
    def test_ordinary_text_is_untouched(self, text: str) -> None:
        """Near misses (token counters, variable references, prefixes alone) are kept."""
        assert redact(text) == (text, 0)

    def test_context_is_kept(self) -> None:
        """Only the value goes: the command stays readable."""
        out, count = redact(f"export OPENAI_API_KEY={OPENAI} && python run.py")
        assert out == "export OPENAI_API_KEY=[REDACTED:openai_key] && python run.py"
        assert count == 1

    def test_several_secrets_are_counted(self) -> None:
        """Each replacement counts once (no double count of an assignment's token value)."""
        out, count = redact(f"A_KEY={AWS_ID} B={GITHUB_CLASSIC} curl https://u:pw12@h/")
        assert count == 3
        assert out.count("[REDACTED:") == 3

    @given(st.text(max_size=300))
    def test_idempotent(self, text: str) -> None:
        """Redacting twice changes nothing more (stored text is never re-redacted wrongly)."""
        once, _ = redact(text)
        assert redact(once) == (once, 0)


def _agent_lines() -> list[tuple[str, Path, bytes]]:
    """The first fixture line of each agent whose parse yields a shell command."""
    found: list[tuple[str, Path, bytes]] = []
    for folder, agent in (("claude", "claude-code"), ("codex", "codex"), ("copilot", "copilot")):
        for path in sorted((FIXTURES / folder).rglob("*.jsonl")):
            source = classify(agent, str(FIXTURES / folder), str(path))
            if source is None:
                continue
            parser = make_parser(source)
            for line in path.read_bytes().split(b"\n"):
                events = [r for r in parser.parse_line(line, 0) if isinstance(r, Event)]
                if any(e.command and len(e.command) > 8 for e in events):
                    found.append((agent, path, line))
                    break
            if found and found[-1][0] == agent:
                break
    return found


def _parse(agent: str, path: Path, line: bytes) -> list[Record]:
    folder = {"claude-code": "claude", "codex": "codex", "copilot": "copilot"}[agent]
    source = classify(agent, str(FIXTURES / folder), str(path))
    assert source is not None
    return make_parser(source).parse_line(line, 0)


class TestRealLines:
    """Secrets placed into real transcript lines, through the real parsers."""

    @pytest.mark.parametrize(("agent", "path", "line"), _agent_lines(), ids=lambda v: str(v)[-40:])
    def test_secret_in_a_real_command_is_redacted(
        self, agent: str, path: Path, line: bytes
    ) -> None:
        """The command, its arguments and the raw line lose the secret; the rest survives."""
        command = next(
            e.command for e in _parse(agent, path, line) if isinstance(e, Event) and e.command
        )
        assert command is not None
        quoted = orjson.dumps(command)[1:-1]
        secret_cmd = (
            f"export OPENAI_API_KEY={OPENAI}; git push https://{GITHUB_CLASSIC}@github.com/o/r"
        )
        doctored = line.replace(quoted, orjson.dumps(secret_cmd)[1:-1], 1)
        assert doctored != line, "the command text was not found verbatim in the line"
        records = _parse(agent, path, doctored)
        count = scrub_records(records)
        assert count >= 2
        stored = orjson.dumps(
            [
                getattr(r, "__slots__", None) and {s: getattr(r, s) for s in r.__slots__}
                for r in records
            ]
        ).decode()
        assert OPENAI not in stored
        assert GITHUB_CLASSIC not in stored
        cmd = next(e.command for e in records if isinstance(e, Event) and e.command)
        assert cmd.startswith("export OPENAI_API_KEY=[REDACTED:openai_key]; git push https://")

    def test_fixtures_without_secrets_are_untouched(self) -> None:
        """Every line of every agent's fixtures parses to the same records with or without
        scrubbing: no false positive on real transcripts."""
        total = 0
        for folder, agent in (("claude", "claude-code"), ("codex", "codex"),
                              ("copilot", "copilot"), ("gemini", "gemini")):  # fmt: skip
            for path in sorted((FIXTURES / folder).rglob("*.jsonl")):
                source = classify(agent, str(FIXTURES / folder), str(path))
                if source is None:
                    continue
                parser = make_parser(source)
                for line in path.read_bytes().split(b"\n"):
                    records = parser.parse_line(line, 0)
                    total += len(records)
                    assert scrub_records(records) == 0, line[:200]
        assert total > 1000
