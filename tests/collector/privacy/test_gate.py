"""The redaction gate never misses: every text ``redact`` would change is a suspect, and
scrubbing a chunk gives the records that redacting every text field one by one gives — on
every fixture transcript, with and without secrets injected, and on generated texts built
from the pieces the rules look at (names, whitespace of every kind, quotes, escapes, case)."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.parsers import make_parser
from collector.parsers.sources import classify
from collector.privacy import redact, scrub_records
from collector.privacy.gate import GATE_TRIGGERS, fold, suspects
from collector.privacy.redact import (
    _KEYWORD_MATCHER,
    _KEYWORDS,
    _LABEL_HITS,
    NAME_ENDS,
    RULES,
    _replacer,
    _shift,
    _sub_anchored,
)
from collector.privacy.scrub import text_fields
from store.records import Event, Record
from tests.collector.privacy.test_redact import (
    ANTHROPIC,
    AWS_ID,
    AWS_SECRET,
    GITHUB_CLASSIC,
    GITHUB_FINE,
    GOOGLE,
    JWT,
    OPENAI,
    PEM,
    SECRET_CASES,
    SLACK,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
AGENTS = (("claude", "claude-code"), ("codex", "codex"), ("copilot", "copilot"),
          ("gemini", "gemini"))  # fmt: skip

# Secret-bearing snippets, each redacted by ``redact`` (checked below), in the forms a
# transcript holds them: commands, .env lines, JSON, JSON inside JSON, odd whitespace and case.
INJECTED = [
    f"export OPENAI_API_KEY={OPENAI}",
    f"ANTHROPIC_API_KEY={ANTHROPIC} claude -p hi",
    f"git push https://{GITHUB_CLASSIC}@github.com/o/r",
    f"GH_TOKEN={GITHUB_FINE}",
    f"aws configure set aws_access_key_id {AWS_ID}",
    f"aws_secret_access_key = {AWS_SECRET}",
    f"curl -d token={SLACK} https://slack.com/api",
    f"maps?key={GOOGLE}",
    f"echo {JWT}",
    PEM,
    "curl -H 'Authorization:\tBearer abc123def456ghi789' x",
    "psql postgresql://app:hunter2-Secret@db.internal:5432/prod",
    "DB_PASSWORD\t=\tcorrect-horse-battery",
    "DB_PASSWORD  = correct-horse-battery",
    "DB_PASSWORD\u00a0= correct-horse-battery",
    "DB_PASSWORD\u2003=\u3000correct-horse-battery",
    "DB_PASSWORD\n= correct-horse-battery",
    "aPi_KeY=0123456789abcdef",
    "API_\u212aEY=0123456789abcdef",  # KELVIN SIGN: str.lower() gives "k"
    "\u017fecret_key=0123456789abcdef",  # LONG S: re's IGNORECASE takes it for "s"
    '{"api_key": "0123456789abcdef"}',
    '{\\"password\\": \\"hunter22\\"}',
    orjson.dumps({"command": 'curl -d \'{"client_secret": "0123456789abcdef"}\''}).decode(),
    orjson.dumps(orjson.dumps({"auth_token": "0123456789abcdef"}).decode()).decode(),
]


def _texts(records: list[Record]) -> list[tuple[Record, str]]:
    return [(r, name) for r in records for name in text_fields(type(r)) if getattr(r, name)]


def _redact_each(records: list[Record]) -> int:
    """The reference: ``redact`` on every text field, no gate."""
    total = 0
    for record, name in _texts(records):
        clean, count = redact(getattr(record, name))
        setattr(record, name, clean)
        total += count
    return total


def _parsed_fixtures() -> list[tuple[str, list[list[Record]]]]:
    out = []
    for folder, agent in AGENTS:
        for path in sorted((FIXTURES / folder).rglob("*.jsonl")):
            source = classify(agent, str(FIXTURES / folder), str(path))
            if source is None:
                continue
            parser = make_parser(source)
            lines = path.read_bytes().split(b"\n")
            out.append((path.name, [parser.parse_line(line, 0) for line in lines]))
    return out


PARSED = _parsed_fixtures()


def _inject(records: list[Record], secret: str, every: int) -> None:
    """Put ``secret`` into every ``every``-th text field: at its start, middle or end."""
    for n, (record, name) in enumerate(_texts(records)):
        if n % every == 0:
            text = getattr(record, name)
            cut = (n // every) % 3 * len(text) // 2
            setattr(record, name, text[:cut] + secret + text[cut:])


class TestAgreesWithRedactingEveryField:
    """The fast path and the full ``redact`` of every text field agree, record for record."""

    def test_injected_snippets_are_all_secrets(self) -> None:
        for snippet in INJECTED:
            assert redact(snippet)[1] >= 1, snippet

    @pytest.mark.parametrize(("name", "chunks"), PARSED, ids=[n for n, _ in PARSED])
    def test_fixture_transcripts(self, name: str, chunks: list[list[Record]]) -> None:
        """Each file as one chunk, then with secrets injected into its text fields."""
        records = [r for chunk in chunks for r in chunk]
        for round_, secret in enumerate([None, *INJECTED]):
            fast = copy.deepcopy(records)
            if secret is not None:
                _inject(fast, secret, every=3 + round_ % 5)
            full = copy.deepcopy(fast)
            assert scrub_records(fast) == _redact_each(full)
            assert fast == full

    def test_secret_in_each_record_of_a_chunk(self) -> None:
        """Many suspects in one chunk land on the right records and fields."""
        records = [r for _, chunks in PARSED[:3] for chunk in chunks for r in chunk]
        fast = copy.deepcopy(records)
        for n, (record, name) in enumerate(_texts(fast)):
            setattr(record, name, getattr(record, name) + " " + INJECTED[n % len(INJECTED)])
        full = copy.deepcopy(fast)
        count = scrub_records(fast)
        assert count == _redact_each(full) > 100
        assert fast == full


# Pieces the rules look at, joined at random: the generated texts hit the triggers, the checks
# and the whitespace and case corners far more often than random characters would.
_PIECES = st.sampled_from([
    *NAME_ENDS, "KEY", "Token", "SECRET", "api_", "MY_", "x", "_", "-", "=", " = ", ":", '"',
    '\\"', "\\", "'", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u212a", "\u017f", "é", "—",
    "0123456789abcdef", "hunter22", "$HOME", "sk-", "task-", "ghp_", "AKIA", "aws", "AWS",
    "Authorization", "bearer", "://", "@", "user:pw", "eyJ", "AIza", "xoxb-", "PRIVATE KEY",
    "-----BEGIN", "\x00",
])  # fmt: skip
_TEXT = st.lists(
    _PIECES | st.text(st.characters(exclude_categories=["Cs"]), max_size=3), max_size=24
).map("".join)  # texts are clean_text'ed: no lone surrogates


class TestGate:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(_TEXT, min_size=1, max_size=6))
    @example(["DB_PASSWORD\u2003= hunter22"])
    @example(["x", "to\u212aen=hunter22"])
    @example(["My_\u017fecret=hunter22"])
    def test_every_text_redact_changes_is_a_suspect(self, texts: list[str]) -> None:
        found = set(suspects(texts))
        for index, text in enumerate(texts):
            if redact(text)[1]:
                assert index in found, (index, text)

    def test_secret_cases_are_suspects_alone_and_among_others(self) -> None:
        for _kind, text, _secret in SECRET_CASES:
            assert suspects([text]) == [0]
            assert suspects(["plain", "", "words — café", text, "more"]) == [3]

    def test_ordinary_text_is_not_a_suspect(self) -> None:
        ordinary = [
            "def sort(items): return sorted(items, key=len)",
            'query token\\"app = def(resp',  # the corpus's own near-miss
            "max_tokens = 4096; input_tokens=12",
            "see https://example.com/path and ssh://host/repo",
            "git commit -m 'task-runner disk-usage'",
            "café — naïve — 日本語",
        ]
        assert suspects(ordinary) == []

    @pytest.mark.parametrize(
        ("text", "count"),
        [
            ("token=value1", 1),
            ("passkey=token=value1", 0),  # "passkey=..." matches first, is no secret's name
            ("x passkey=token=value1", 0),
            ('{"monkey": "a", "token": "value1"}', 1),
        ],
    )
    def test_a_hit_is_judged_in_its_whole_text(self, text: str, count: int) -> None:
        """Why ``redact`` runs on a suspect's whole text, never a window around its hit: a
        match from an earlier keyword that is no secret consumes the hit (``\\s*`` and a
        JSON value run unbounded, so no window edge is safe without that earlier match)."""
        assert suspects([text]) == [0]
        assert redact(text)[1] == count
        event = Event("s", "e", "2026-01-01T00:00:00.000Z", "command", command=text)
        assert scrub_records([event]) == count
        assert event.command == redact(text)[0]

    def test_a_text_holding_a_nul_still_maps_to_its_index(self) -> None:
        texts = ["a\x00b", "c\x00", f"export OPENAI_API_KEY={OPENAI}", "d"]
        assert suspects(texts) == [2]

    def test_folding_keeps_positions(self) -> None:
        data = "Ab\tC — é\u212a=".encode()
        assert len(fold(data)) == len(data)
        assert fold(data).startswith(b"ab c ")

    def test_gate_triggers_fit_the_fast_prefilter(self) -> None:
        """<= 64 patterns of >= 3 bytes per automaton (bench_parse: 3x slower otherwise)."""
        assert all(len(t) >= 3 for t in GATE_TRIGGERS)
        assert len(GATE_TRIGGERS) <= 2 * 64

    def test_every_rule_has_a_trigger(self) -> None:
        """A rule added later is covered: each keyword has a trigger (folded or exact)."""
        lowered = {t.lower() for t in GATE_TRIGGERS}
        for rule in RULES:
            for keyword in rule.keywords:
                if rule.kind in ("secret_assignment", "secret_field"):
                    continue  # covered by the names (NAME_ENDS) and what follows them
                assert any(keyword.startswith(t.decode("latin-1")) for t in lowered), keyword


class TestRealLines:
    """Secrets inside real lines, through the real parsers: JSON-escaped in the line, and
    JSON inside JSON (Codex's ``arguments`` string)."""

    def test_codex_arguments_json_inside_json(self) -> None:
        path = FIXTURES / "codex" / "guideai-codex-0.45-sample.jsonl"
        source = classify("codex", str(FIXTURES / "codex"), str(path))
        assert source is not None
        parser = make_parser(source)
        secret_cmd = f'export OPENAI_API_KEY={OPENAI} && curl -d "password=hunter22" x'
        done = 0
        for line in path.read_bytes().split(b"\n"):
            data = orjson.loads(line) if line.strip() else None
            payload = data.get("payload") if isinstance(data, dict) else None
            if not isinstance(payload, dict) or payload.get("type") != "function_call":
                continue
            payload["arguments"] = orjson.dumps({"command": ["bash", "-lc", secret_cmd]}).decode()
            records = parser.parse_line(orjson.dumps(data), 0)
            full = copy.deepcopy(records)
            assert scrub_records(records) == _redact_each(full) >= 2
            assert records == full
            stored = orjson.dumps([_texts_of(r) for r in records]).decode()
            assert OPENAI not in stored
            assert "hunter22" not in stored
            done += 1
        assert done


def _texts_of(record: Record) -> list[str | None]:
    return [getattr(record, name) for name in text_fields(type(record))]


def test_unknown_record_type_is_refused() -> None:
    class Other:
        pass

    with pytest.raises(KeyError):
        scrub_records([Event("s", "e", "t", "message"), Other()])  # type: ignore[list-item]


def _reference_redact(text: str) -> tuple[str, int]:
    """``redact`` as first written: keyword positions found afresh before each anchored rule
    (``str.find`` on the lower-cased text); the shipped one shifts them past replacements."""
    found = {k for rule in RULES for k in rule.keywords if k in text.lower()}
    count = [0]
    for rule in RULES:
        if found.isdisjoint(rule.keywords):
            continue
        replace = _replacer(rule.kind, count)
        if not rule.anchored:
            text = rule.pattern.sub(replace, text)
            continue
        lowered = text.lower()
        starts = sorted(
            at for k in rule.keywords for at in range(len(lowered)) if lowered.startswith(k, at)
        )
        out, done = [], 0
        for at in starts:
            match = rule.pattern.match(text, at) if at >= done else None
            if match is not None:
                out += [text[done : match.start()], replace(match)]
                done = match.end()
        text = "".join(out) + text[done:] if out else text
    return text, count[0]


class TestRedactMatchesItsReference:
    """Shifting keyword positions past replacements finds what searching afresh finds."""

    @settings(max_examples=400, deadline=None)
    @given(_TEXT)
    @example('TOKEN=abcd1234 "api_key": "0123456789" token="x" secret_key=abcdef')
    @example('{"password": "hunter22"} DB_PASSWORD=sekrit12 "secret": "again123"')
    @example("İ TOKEN=abcd1234 x_key=efgh5678")
    def test_generated(self, text: str) -> None:
        assert redact(text) == _reference_redact(text)

    @pytest.mark.parametrize("text", [c[1] for c in SECRET_CASES] + INJECTED)
    def test_known_cases(self, text: str) -> None:
        assert redact(text) == _reference_redact(text)

    @settings(max_examples=300, deadline=None)
    @given(_TEXT, _TEXT)
    @example("x bearer", " y")  # a keyword running out of a secret
    @example('"api_key": "', 'v"')
    def test_shifted_positions_are_those_found_afresh(self, head: str, tail: str) -> None:
        """After the generic rules replace secrets, the shifted keyword positions are exactly
        those a new search of the new text finds (labels' own keywords included)."""
        text = head + "MY_TOKEN=abcd1234" + tail + ' "secret": "hunter22" ' + head
        lowered = text.lower()
        if len(lowered) != len(text):
            return  # shifting is not used then
        hits = _KEYWORD_MATCHER.find_matches_as_indexes(lowered, overlapping=True)
        for rule in (r for r in RULES if r.anchored):
            keywords = {i for i, word in enumerate(_KEYWORDS) if word in rule.keywords}
            starts = sorted({at for i, at, _ in hits if i in keywords})
            spans: list[tuple[int, int, int]] = []
            text = _sub_anchored(rule, text, starts, _replacer(rule.kind, [0], spans))
            hits = _shift(hits, spans, _LABEL_HITS[rule.kind])
            again = _KEYWORD_MATCHER.find_matches_as_indexes(text.lower(), overlapping=True)
            assert sorted(hits) == sorted(again)
