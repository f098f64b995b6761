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

import msgspec
from ahocorasick_rs import AhoCorasick

__all__ = ["NAMES", "NAME_ENDS", "RULES", "Rule", "redact"]

_Sub = Callable[[re.Match[str]], str]


class Rule(msgspec.Struct, frozen=True):
    """One secret shape: its kind, the keywords that must occur (lower case), its pattern.

    The pattern's group ``secret`` (or the whole match) is what gets replaced.
    """

    kind: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    # Matched only where one of the keywords occurs (``pattern.match`` there), not by a scan
    # of every position: Python's re tries a case-insensitive alternation at each character,
    # which made the assignment rule cost more than parsing the line.
    anchored: bool = False


def _rule(
    kind: str, keywords: tuple[str, ...], pattern: str, flags: int = 0, *, anchored: bool = False
) -> Rule:
    return Rule(kind, keywords, re.compile(pattern, flags), anchored)


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
    # The two generic rules start at the keyword itself (a cheap first-character test at each
    # position), and ``_name_of`` widens the match to the whole name for ``NAMES`` to judge.
    _rule(
        "secret_assignment",
        ("key", "token", "secret", "pass", "pwd", "credential"),
        r"(?P<name>(?i:key|token|secret|passw|pwd|credential)[A-Za-z0-9_]{0,40})"
        r"\s*=\s*[\"']?(?P<secret>[^\s\"'\\$<%{(`;|&]{4,})",
        anchored=True,
    ),
    _rule(
        "secret_field",
        ("key", "token", "secret", "pass"),
        r"(?P<name>(?i:key|token|secret|passw)[A-Za-z0-9_\-]{0,40})"
        r"\\?\"\s*:\s*\\?\"(?P<secret>[^\"\\]{4,})",
        anchored=True,
    ),
)

_MARK = "[REDACTED:"
_KEYWORDS = tuple(sorted({keyword for rule in RULES for keyword in rule.keywords}))
_KEYWORD_MATCHER = AhoCorasick(list(_KEYWORDS))  # which rules a text needs, in one pass
# Per rule, the indexes of its keywords in ``_KEYWORDS``: where an anchored rule is tried.
_RULE_KEYWORDS = tuple(
    frozenset(i for i, word in enumerate(_KEYWORDS) if word in rule.keywords) for rule in RULES
)
# Per keyword (index in ``_KEYWORDS``), the rules (indexes in ``RULES``) that need it.
_KEYWORD_RULES = tuple(
    tuple(r for r, keywords in enumerate(_RULE_KEYWORDS) if i in keywords)
    for i in range(len(_KEYWORDS))
)
# Per rule kind, the keywords in its label (positions relative to the label's start).
_LABEL_HITS = {
    rule.kind: list(
        _KEYWORD_MATCHER.find_matches_as_indexes(f"{_MARK}{rule.kind}]".lower(), overlapping=True)
    )
    for rule in RULES
}
# The words a secret's name ends in (collector.privacy.gate looks for them, followed by what
# the generic rules need after a name: ``=`` or a quote) — "input_tokens", in every usage
# line, is not one.
NAME_ENDS = ("key", "token", "secret", "password", "passwd", "pwd", "credential", "credentials")
# Names whose value is a secret: an upper-case variable ending in KEY, TOKEN, SECRET, PASSWORD
# (OPENAI_API_KEY, GH_TOKEN, DB_PASSWORD), or one of the usual lower-case words, alone or after
# a prefix (api_key, client_secret, auth_token). "max_tokens", "monkey", "keyboard" are not.
NAMES = re.compile(
    r"(?:[A-Za-z0-9]+_)*(?:[A-Z0-9]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?)"
    r"|(?i:api_?key|apikey|secret_?key|access_?key|private_?key|auth_?token|access_?token"
    r"|refresh_?token|token|secret|client_?secret|password|passwd))"
)


def _name_of(match: re.Match[str]) -> str:
    """The whole identifier the match's ``name`` group ends (it may start mid-name)."""
    text, start = match.string, match.start("name")
    begin = start
    while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] in "_-"):
        begin -= 1
    return text[begin:start] + match.group("name")


def _replacer(kind: str, count: list[int], spans: list[tuple[int, int, int]] | None = None) -> _Sub:
    """The replacement function of rule ``kind``; each secret replaced is counted in
    ``count`` and, given ``spans``, noted there (start, end, growth in length)."""
    label = f"{_MARK}{kind}]"

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if "secret" not in match.re.groupindex:
            count[0] += 1
            return label
        value = match.group("secret")
        if value.startswith(_MARK) or value.startswith("REDACTED"):
            return whole
        if "name" in match.re.groupindex and not NAMES.fullmatch(_name_of(match)):
            return whole
        count[0] += 1
        if spans is not None:
            spans.append((match.start("secret"), match.end("secret"), len(label) - len(value)))
        start = match.start("secret") - match.start(0)
        return whole[:start] + label + whole[start + len(value) :]

    return replace


def redact(text: str) -> tuple[str, int]:
    """``text`` with every known secret shape replaced by ``[REDACTED:<kind>]``, and how many."""
    lowered = text.lower()
    hits = _KEYWORD_MATCHER.find_matches_as_indexes(lowered, overlapping=True)
    if not hits:
        return text, 0  # most text: one lower() and one pass of the keyword matcher
    found = {i for i, _, _ in hits}
    count = [0]
    # The keyword positions follow the text's replacements: shifted past an anchored rule's
    # (``_shift``), found again after another rule's. Shifting needs the positions in the
    # lower-cased text to be those in the text (lower() keeps the length: nearly always).
    aligned = len(lowered) == len(text)
    stale = False
    for rule in sorted({r for i in found for r in _KEYWORD_RULES[i]}):
        kind = RULES[rule].kind
        if not RULES[rule].anchored:
            before = count[0]
            text = RULES[rule].pattern.sub(_replacer(kind, count), text)
            stale = stale or count[0] != before
            continue
        if stale:
            lowered = text.lower()
            hits = _KEYWORD_MATCHER.find_matches_as_indexes(lowered, overlapping=True)
            aligned, stale = len(lowered) == len(text), False
        starts = sorted({at for i, at, _ in hits if i in _RULE_KEYWORDS[rule]})
        spans: list[tuple[int, int, int]] = []
        text = _sub_anchored(RULES[rule], text, starts, _replacer(kind, count, spans))
        if spans and aligned:
            hits = _shift(hits, spans, _LABEL_HITS[kind])
        elif spans:
            stale = True
    return text, count[0]


_Hit = tuple[int, int, int]  # keyword (index in _KEYWORDS), start, end


def _shift(hits: list[_Hit], spans: list[tuple[int, int, int]], label: list[_Hit]) -> list[_Hit]:
    """``hits`` as they are after ``spans`` (a secret's start and end, and how much longer
    its label is) were replaced: the hits a secret overlapped are gone, the label's own
    keywords (``label``, relative to its start) come in. No keyword holds "[" or "]", so none
    runs across a label's edge; a generic rule's secret is bounded by characters (``=``,
    quotes, whitespace, shell syntax) that no keyword starts or ends with there."""
    out = []
    for i, start, end in hits:
        delta = 0
        for old_start, old_end, size in spans:
            if end <= old_start:
                break
            if start < old_end:
                break  # overlapped a secret
            delta += size
        else:
            out.append((i, start + delta, end + delta))
            continue
        if end <= old_start:
            out.append((i, start + delta, end + delta))
    moved = 0
    for old_start, _old_end, size in spans:
        out += [(i, old_start + moved + a, old_start + moved + b) for i, a, b in label]
        moved += size
    return out


def _sub_anchored(rule: Rule, text: str, starts: list[int], replace: _Sub) -> str:
    """``rule.pattern.sub`` tried only at its keywords' occurrences (see ``Rule.anchored``)."""
    out, done = [], 0
    for at in starts:
        if at < done:
            continue
        match = rule.pattern.match(text, at)
        if match is None:
            continue
        out.append(text[done : match.start()])
        out.append(replace(match))
        done = match.end()
    return "".join(out) + text[done:] if out else text
