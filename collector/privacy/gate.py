"""Which of many texts may hold a secret: one automaton pass over all of them, then a cheap
check at each hit, so ``redact`` runs only on the few texts that can change.

Pure (no I/O, no state). The contract with ``collector.privacy.redact``: every text that
``redact`` would change is among the suspects (``suspects`` over-approximates, never misses).
Why that holds:

- Every rule's match contains one of the rule's keywords, and the rules are case-sensitive or
  ASCII case-insensitive. The texts are scanned as UTF-8 *folded*: ASCII letters lower-cased,
  every ASCII whitespace byte (``\\s`` plus ``\\x1c``-``\\x1f``, which Python's ``\\s`` also
  takes) and every byte of a non-ASCII character turned into a space. Folding maps bytes one to
  one, so positions stay those of the UTF-8 text, and no ASCII keyword is lost; a non-ASCII
  whitespace character becomes spaces, as an ASCII one does.
- The generic rules (``secret_assignment``, ``secret_field``) need a name that *ends* in one of
  ``NAME_ENDS`` followed by ``\\s*=`` or ``\\?"``: folded, that is the word followed by ``=``,
  `` =``, two spaces, ``"`` or ``\\"``.
- The triggers that fire on ordinary text (names in code, ``://`` in every URL, ``sk-`` in
  ``task-``) are checked at the hit against a byte pattern that accepts at least everything the
  rule's own pattern accepts there (a wider byte class where the rule has ``\\s`` or a class a
  non-ASCII character may fall into); the other triggers are rare and go to ``redact`` as they
  are.

Cost (bench/bench_parse.py): folding is one ``bytes.translate``; with at most 64 short patterns
the automaton runs Teddy's vectorised prefilter instead of a byte-at-a-time DFA (three times
faster than matching 160 case variants).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

from collector.privacy.redact import NAME_ENDS, NAMES, RULES

__all__ = ["GATE_TRIGGERS", "fold", "suspects"]

# Kept: the last two bytes of the KELVIN SIGN (U+212A), the one non-ASCII letter that
# str.lower() makes ASCII ("k"), which ``redact`` then sees in "\u212aEY=" (no whitespace
# character's UTF-8 holds either byte).
_KELVIN = "\u212a".encode()[1:]
_SPACES = bytes(b for b in range(0x80, 0x100) if b not in _KELVIN) + b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_FOLD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _SPACES, b"abcdefghijklmnopqrstuvwxyz" + b" " * len(_SPACES)
)
_GENERIC = frozenset({"secret_assignment", "secret_field"})
_ASSIGN_ENDS = ("=", " =", "  ")  # name, then \s*= (folded whitespace is spaces)
_FIELD_ENDS = ('"', '\\"')  # name, then \\?"


def fold(data: bytes) -> bytes:
    """``data`` (UTF-8) as the gate scans it: see the module docstring."""
    return data.translate(_FOLD)


def _shape_keywords() -> tuple[str, ...]:
    """The specific rules' keywords, lower case, minus those another keyword starts."""
    words = {w.lower() for rule in RULES if rule.kind not in _GENERIC for w in rule.keywords}
    return tuple(sorted(w for w in words if not any(o != w and w.startswith(o) for o in words)))


# A byte class wider than the rules' ``\s`` (ASCII whitespace, \x1c-\x1f, any non-ASCII byte).
_WS = rb"[\s\x1c-\x1f\x80-\xff]*"
_ASSIGN_TAIL = re.compile(_WS + rb"=" + _WS + rb"[\"']?[^\s\"'\\$<%{(`;|&]{4}")
_FIELD_TAIL = re.compile(rb'\\?"' + _WS + rb":" + _WS + rb'\\?"[^"\\]{4}')
_URL_TAIL = re.compile(rb"://[^\s:/@\"'\\\[\]]{1,400}:[^\s@/\"'\\]{1,800}@")
_NAME_B = re.compile(NAMES.pattern.encode())
_IDENT_BACK = re.compile(rb"[A-Za-z0-9_\-]*")  # matched on the reversed bytes before a name
_REACH = 96  # bytes looked back for a name's start; a longer name is let through
_SK = tuple(
    re.compile(rule.pattern.pattern.encode())
    for rule in RULES
    if rule.kind in ("openai_key", "anthropic_key")  # ASCII-only patterns: same on bytes
)

_Check = Callable[[bytes, int, int], bool]


def _named(tail: re.Pattern[bytes]) -> _Check:
    def check(raw: bytes, start: int, word_end: int) -> bool:
        if tail.match(raw, word_end) is None:
            return False
        begin = max(0, start - _REACH)
        back = _IDENT_BACK.match(raw[begin:start][::-1])
        at = start - (back.end() if back else 0)
        if (begin and at == begin) or (at and raw[at - 1] >= 0x80):
            return True  # the name may go on beyond what was looked at, or into a
            # non-ASCII letter (``str.isalnum``), which ``NAMES`` may take case-blind ("ſ")
        return _NAME_B.fullmatch(raw, at, word_end) is not None

    return check


def _url(raw: bytes, start: int, _end: int) -> bool:
    return _URL_TAIL.match(raw, start) is not None


def _sk(raw: bytes, start: int, _end: int) -> bool:
    return any(p.match(raw, start) is not None for p in _SK)


def _triggers() -> tuple[tuple[str, int, _Check | None], ...]:
    """(trigger, length of its name word, check) — the check None: always a suspect."""
    out: list[tuple[str, int, _Check | None]] = []
    assign, field = _named(_ASSIGN_TAIL), _named(_FIELD_TAIL)
    for word in NAME_ENDS:
        out += [(word + end, len(word), assign) for end in _ASSIGN_ENDS]
        out += [(word + end, len(word), field) for end in _FIELD_ENDS]
    special: dict[str, _Check] = {"://": _url, "sk-": _sk}
    out += [(word, len(word), special.get(word)) for word in _shape_keywords()]
    # folded, as 3 bytes: a 2-byte pattern makes the automaton drop its fast prefilter
    out.append((fold("\u212a".encode()).decode("latin-1"), 0, None))
    return tuple(out)


_TRIGGERS = _triggers()
GATE_TRIGGERS = tuple(t.encode("latin-1") for t, _, _ in _TRIGGERS)
# LeftmostFirst with <= 64 patterns lets the automaton use its packed (Teddy) prefilter.
_MATCHER = BytesAhoCorasick(
    list(GATE_TRIGGERS),
    matchkind=MatchKind.LeftmostFirst,
    implementation=Implementation.DFA,
)


def suspects(parts: Sequence[bytes], joined: bytes) -> list[int]:
    """Indexes into ``parts`` (UTF-8 texts; ``joined`` is them joined by one NUL byte each)
    of the texts that may hold a secret, in order."""
    starts = [
        start
        for index, start, _end in _MATCHER.find_matches_as_indexes(fold(joined))
        if (check := _TRIGGERS[index][2]) is None
        or check(joined, start, start + _TRIGGERS[index][1])
    ]
    if not starts:
        return []
    starts.sort()
    if joined.count(b"\x00") != len(parts) - 1:  # a text holds a NUL (clean_text drops them)
        ends = list(accumulate(map((1).__add__, map(len, parts))))  # each text's end + NUL
        return sorted({bisect_right(ends, start) for start in starts})
    found: list[int] = []
    index = at = 0
    for start in starts:  # the text of a hit: the separators before it
        index += joined.count(b"\x00", at, start)
        at = start
        if not found or found[-1] != index:
            found.append(index)
    return found
