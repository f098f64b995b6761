"""Secret redaction: known token shapes in free text become ``[REDACTED:<kind>]``.

Pure (no I/O, no state). Transcripts carry whatever the user pasted or the agent ran —
``export OPENAI_API_KEY=…``, ``curl -H "Authorization: Bearer …"``, a ``.env`` read back — and
the store outlives the transcripts and may be shipped to a team server, so every stored text is
passed through ``redact`` first.

Why a table of our own rather than a scanner library: detect-secrets and its kin scan files
line by line through plugin objects and filters, which costs far more than the whole parse of a
line; gitleaks and trufflehog are Go binaries. The rule shapes below follow gitleaks' rule set
(keywords first, then one regular expression per provider). A rule runs only when one of its
keywords occurs in the lower-cased text, so a text without any keyword — most of them — costs
one ``lower()`` and a few substring searches.

Order matters: specific token shapes run first, so ``export OPENAI_API_KEY=sk-proj-…`` reports
``openai_key``; the generic rules (assignments, JSON keys, headers, URL passwords) then skip
values that are already redacted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RULES", "Rule", "redact"]

_Sub = Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret shape: its kind, the keywords that must occur (lower case), its pattern.

    The pattern's group ``secret`` (or the whole match) is what gets replaced.
    """

    kind: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]


def _rule(kind: str, keywords: tuple[str, ...], pattern: str, flags: int = 0) -> Rule:
    return Rule(kind, keywords, re.compile(pattern, flags))


_B = r"(?<![A-Za-z0-9_\-])"  # a token starts at a boundary (not inside "task-…" or a hash)
_E = r"(?![A-Za-z0-9_\-])"

RULES: tuple[Rule, ...] = (
    _rule(
        "private_key",
        ("private key",),
        r"-----BEGIN[A-Z0-9 ]{0,30} PRIVATE KEY( BLOCK)?-----"
        r"(?:.*?-----END[A-Z0-9 ]{0,30} PRIVATE KEY( BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)",
        re.DOTALL,
    ),
    _rule("anthropic_key", ("sk-ant-",), _B + r"sk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_\-]{20,}" + _E),
    _rule(
        "openai_key", ("sk-",), _B + r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}" + _E
    ),
    _rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        _B + r"gh[pousr]_[A-Za-z0-9]{36,255}" + _E,
    ),
    _rule("github_token", ("github_pat_",), _B + r"github_pat_[A-Za-z0-9_]{22,255}" + _E),
    _rule(
        "aws_access_key",
        ("akia", "asia", "abia", "acca"),
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
    ),
    _rule(
        "aws_secret_key",
        ("aws",),
        r"(?i:aws)[A-Za-z0-9_.\-]{0,20}?(?i:secret)[A-Za-z0-9_.\-]{0,20}"
        r"[\"'\\]*\s*[:=]>?\s*[\"'\\]*(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    ),
    _rule(
        "slack_token",
        ("xox", "xapp-"),
        _B + r"(?:xox[abposr]-[A-Za-z0-9\-]{10,250}|xapp-\d-[A-Za-z0-9\-]{10,250})" + _E,
    ),
    _rule("google_api_key", ("aiza",), _B + r"AIza[0-9A-Za-z_\-]{35}" + _E),
    _rule(
        "jwt",
        ("eyj",),
        _B + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}" + _E,
    ),
    _rule(
        "authorization",
        ("authorization", "bearer "),
        r"(?i:authorization[\"'\\]*\s*[:=]\s*[\"'\\]*(?:bearer|basic|token|bot)?\s*"
        r"|\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})",
    ),
    _rule(
        "url_password",
        ("://",),
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"'\\\[\]]{1,100}:(?P<secret>[^\s@/\"'\\]{1,200})@",
    ),
    _rule(
        "secret_assignment",
        ("key", "token", "secret", "pass", "pwd", "credential"),
        r"(?<![A-Za-z0-9_])(?:[A-Za-z0-9]+_)*(?:[A-Za-z0-9]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD"
        r"|PWD|CREDENTIALS?)|(?i:api_?key|secret_?key|access_?key|auth_?token|access_?token"
        r"|token|secret|password|passwd|client_secret))(?![A-Za-z0-9_])"
        r"\s*=\s*[\"']?(?P<secret>[^\s\"'\\$<%{(`;|&]{4,})",
    ),
    _rule(
        "secret_field",
        ("key", "token", "secret", "pass"),
        r"(?i:\\?\"(?:[a-z0-9_\-]*(?:api_?key|secret|password|passwd|access_?token"
        r"|auth_?token|private_?key|refresh_?token|client_?secret)|token)\\?\"\s*:\s*\\?\")"
        r"(?P<secret>[^\"\\]{4,})",
    ),
)

_MARK = "[REDACTED:"


def _replacer(kind: str, count: list[int]) -> _Sub:
    label = f"{_MARK}{kind}]"

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if "secret" not in match.re.groupindex:
            count[0] += 1
            return label
        value = match.group("secret")
        if value.startswith(_MARK) or value.startswith("REDACTED"):
            return whole
        count[0] += 1
        start = match.start("secret") - match.start(0)
        return whole[:start] + label + whole[start + len(value) :]

    return replace


def redact(text: str) -> tuple[str, int]:
    """``text`` with every known secret shape replaced by ``[REDACTED:<kind>]``, and how many."""
    lowered = text.lower()
    count = [0]
    for rule in RULES:
        for keyword in rule.keywords:
            if keyword in lowered:
                text = rule.pattern.sub(_replacer(rule.kind, count), text)
                break
    return text, count[0]
