r"""Which of many texts may hold a secret: two automaton passes over all of them joined, then
a cheap check at each hit, so ``redact`` runs only on the few texts it can change.

Pure (no I/O, no state). The contract with ``collector.privacy.redact``: every text that
``redact`` would change is a suspect (``suspects`` over-approximates, never misses; the tests
check it against ``redact`` on every fixture transcript, with secrets injected, and on
generated texts). Why it holds:

- Every rule's match contains one of the rule's keywords. The case-sensitive token shapes
  (``sk-``, ``ghp_``, ``AKIA``, ``eyJ``, ``PRIVATE KEY`` ...) are looked for as they are, in
  the UTF-8 text. The rest are looked for in the *folded* text: ASCII letters lower-cased, and
  every whitespace byte (Python's ``\s`` takes ``\x1c``-``\x1f`` too) and every byte of a
  non-ASCII character made a space. Folding maps bytes one to one, so positions are those of
  the UTF-8 text, and no ASCII keyword is lost. One non-ASCII letter lower-cases to ASCII,
  the KELVIN SIGN ("k"): its bytes are kept and looked for.
- The generic rules (``secret_assignment``, ``secret_field``) need a name that *ends* in one of
  ``NAME_ENDS`` followed by ``\s*=`` or ``\?"``: folded, the word followed by ``=``, `` =``,
  two spaces (a longer whitespace run, or a non-ASCII one), ``"`` or ``\"``.
- The triggers that fire on ordinary text (names in code, ``://`` in every URL, ``sk-`` in
  ``task-``) are checked at the hit against a byte pattern that accepts at least everything
  the rule's own pattern accepts there (a wider byte class where the rule has ``\s``, or a
  class a non-ASCII character's bytes fall into); the other triggers are rare and make their
  text a suspect as they are.

Cost (bench/bench_parse.py): with at most 64 patterns of at least 3 bytes an automaton uses
its vectorised (Teddy) prefilter; one pass of 160 case variants over the text ran a
byte-at-a-time DFA, three times slower than folding once and running the two passes.
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
_SPACES = (
    bytes(b for b in range(0x80, 0x100) if b not in _KELVIN) + b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
)
_FOLD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _SPACES, b"abcdefghijklmnopqrstuvwxyz" + b" " * len(_SPACES)
)
_GENERIC = frozenset({"secret_assignment", "secret_field"})
_ASSIGN_ENDS = ("=", " =", "  ")  # name, then \s*= (folded whitespace is spaces)
_FIELD_ENDS = ('"', '\\"')  # name, then \\?"


def fold(data: bytes) -> bytes:
    """``data`` (UTF-8) as the gate scans it: see the module docstring."""
    return data.translate(_FOLD)


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
    """The check of a name trigger: what follows fits ``tail`` and the whole identifier the
    word ends is a secret's name (``NAMES``), as the generic rules require."""

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
    """A URL with a password (``user:pass@``) after the ``://``, not any URL."""
    return _URL_TAIL.match(raw, start) is not None


def _sk(raw: bytes, start: int, _end: int) -> bool:
    """An OpenAI or Anthropic key at the ``sk-``, not ``task-`` or ``disk-``."""
    return any(p.match(raw, start) is not None for p in _SK)


# The specific rules whose patterns are case-sensitive: matched exactly, on the unfolded text
# (rarer bytes than their lower-case forms: "akia" is in "making", "AKIA" is not).
_EXACT_KINDS = {
    "private_key": ("PRIVATE KEY",),
    "anthropic_key": ("sk-",),
    "openai_key": ("sk-",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA"),
    "slack_token": ("xox", "xapp-"),
    "google_api_key": ("AIza",),
    "jwt": ("eyJ",),
}
_SPECIAL: dict[str, _Check] = {"://": _url, "sk-": _sk}
# (trigger, length of its name word, check): the check None means always a suspect.
_Trigger = tuple[bytes, int, _Check | None]


def _folded_triggers() -> tuple[_Trigger, ...]:
    """Names, and the keywords of the case-blind rules, as they are in the folded text."""
    out: list[_Trigger] = []
    assign, field = _named(_ASSIGN_TAIL), _named(_FIELD_TAIL)
    for word in NAME_ENDS:
        out += [((word + end).encode(), len(word), assign) for end in _ASSIGN_ENDS]
        out += [((word + end).encode(), len(word), field) for end in _FIELD_ENDS]
    words = {w for r in RULES if r.kind not in _GENERIC | _EXACT_KINDS.keys() for w in r.keywords}
    out += [(word.encode(), len(word), _SPECIAL.get(word)) for word in sorted(words)]
    # folded, as 3 bytes: a 2-byte pattern makes the automaton drop its fast prefilter
    out.append((fold("\u212a".encode()), 0, None))
    return tuple(out)


def _exact_triggers() -> tuple[_Trigger, ...]:
    words = sorted({word for words in _EXACT_KINDS.values() for word in words})
    return tuple((word.encode(), len(word), _SPECIAL.get(word)) for word in words)


def _automaton(triggers: tuple[_Trigger, ...]) -> BytesAhoCorasick:
    # LeftmostFirst with few (<= 64), not too short (>= 3 bytes) patterns lets the automaton
    # use its vectorised (Teddy) prefilter; two sets on two texts beat one set of both.
    return BytesAhoCorasick(
        [t for t, _, _ in triggers],
        matchkind=MatchKind.LeftmostFirst,
        implementation=Implementation.DFA,
    )


_FOLDED = _folded_triggers()
_EXACT = _exact_triggers()
GATE_TRIGGERS = tuple(t for t, _, _ in _FOLDED + _EXACT)
_PASSES = ((_automaton(_FOLDED), _FOLDED, True), (_automaton(_EXACT), _EXACT, False))


def _hits(joined: bytes) -> list[int]:
    """Where a trigger that passed its check starts in ``joined``."""
    starts: list[int] = []
    for automaton, triggers, folded in _PASSES:
        for index, start, _end in automaton.find_matches_as_indexes(
            fold(joined) if folded else joined
        ):
            _, word, check = triggers[index]
            if check is None or check(joined, start, start + word):
                starts.append(start)
    return starts


def suspects(texts: Sequence[str]) -> list[int]:
    """Indexes of the ``texts`` that may hold a secret (see the module docstring), in order.

    The texts are joined by NUL as str and encoded once (a third cheaper than encoding each,
    bench/bench_parse.py, even when one emoji widens the joined str to 4 bytes a character);
    surrogatepass: a lone surrogate (clean_text replaces them) must not stop the scan.
    """
    joined = "\x00".join(texts).encode("utf-8", "surrogatepass")
    starts = _hits(joined)
    if not starts:
        return []  # the usual chunk
    starts.sort()
    if joined.count(b"\x00") != len(texts) - 1:  # a text holds a NUL (clean_text drops them)
        sizes = (len(text.encode("utf-8", "surrogatepass")) + 1 for text in texts)
        ends = list(accumulate(sizes))  # each text's end, its NUL included
        return sorted({bisect_right(ends, start) for start in starts})
    found: list[int] = []
    index = at = 0
    for start in starts:  # the text of a hit: the separators before it
        index += joined.count(b"\x00", at, start)
        at = start
        if not found or found[-1] != index:
            found.append(index)
    return found
