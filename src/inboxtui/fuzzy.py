"""Fuzzy matching for pickers: type a few letters of a name, get the best first.

The scoring is fzy's (github.com/jhawthorn/fzy): the query must be a
subsequence of the candidate, and among all ways to place it the best one
counts, rewarding letters at word starts and runs of consecutive letters and
charging a little for gaps. That makes `al` rank `alice` above `hal`, and
`ss` rank `support-sales` above `class`.

Both sides are folded one character at a time with `inboxtui.text.fold`, so
case, width, accents and Traditional/Simplified Chinese all match (`營銷`
finds `营销`, `cafe` finds `Café`), and a match can still be mapped back to
the characters of the original string for highlighting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from inboxtui.text import fold

T = TypeVar("T")

_GAP_LEADING = -0.005
_GAP_TRAILING = -0.005
_GAP_INNER = -0.01
_CONSECUTIVE = 1.0
_AFTER_SLASH = 0.9
_WORD_START = 0.8
_CAPITAL = 0.7
_AFTER_DOT = 0.6
_MIN = float("-inf")
# An exact match (after folding) beats any partial one, and a longer exact match
# cannot outrank a shorter one through bonuses.
_EXACT = 1_000_000.0
# Above this many characters the quadratic search is skipped: still a match, ranked low.
_MAX_DP = 512


@dataclass(frozen=True, slots=True)
class Match:
    """A successful match: its score and the matched indices of the original candidate."""

    score: float
    positions: tuple[int, ...]


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    return char.lower() if char.isascii() else fold(char)


def _fold_chars(text: str) -> tuple[str, list[int]]:
    """Fold `text` per character -> (folded, original index of each folded character)."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        out.append(folded)
        origin.extend([index] * len(folded))
    return "".join(out), origin


def _bonus(previous: str, char: str) -> float:
    if not char.isalnum():
        return 0.0
    if previous == "/":
        return _AFTER_SLASH
    if previous == ".":
        return _AFTER_DOT
    if not previous.isalnum():
        return _WORD_START
    if previous.islower() and char.isupper():
        return _CAPITAL
    return 0.0


def _bonuses(text: str, origin: list[int]) -> list[float]:
    """Bonus per folded character, judged on the original characters (case, punctuation)."""
    out: list[float] = []
    last_origin = -1
    for index in origin:
        if index == last_origin:
            out.append(0.0)  # second half of one character folded into two (ß -> ss)
        else:
            previous = text[index - 1] if index > 0 else "/"
            out.append(_bonus(previous, text[index]))
        last_origin = index
    return out


def _is_subsequence(needle: str, haystack: str) -> bool:
    position = 0
    for char in needle:
        position = haystack.find(char, position)
        if position < 0:
            return False
        position += 1
    return True


def _greedy_positions(needle: str, haystack: str) -> list[int]:
    out: list[int] = []
    position = 0
    for char in needle:
        position = haystack.find(char, position)
        out.append(position)
        position += 1
    return out


def _best_alignment(needle: str, haystack: str, bonus: list[float]) -> tuple[float, list[int]]:
    """fzy's dynamic programme: D = best score ending in a match here, M = best so far."""
    n, m = len(needle), len(haystack)
    d_rows: list[list[float]] = []
    m_rows: list[list[float]] = []
    last_d: list[float] = [_MIN] * m
    last_m: list[float] = [_MIN] * m
    for i, char in enumerate(needle):
        cur_d = [_MIN] * m
        cur_m = [_MIN] * m
        previous = _MIN
        gap = _GAP_TRAILING if i == n - 1 else _GAP_INNER
        for j in range(m):
            if haystack[j] == char:
                if i == 0:
                    score = j * _GAP_LEADING + bonus[j]
                elif j > 0:
                    score = max(last_m[j - 1] + bonus[j], last_d[j - 1] + _CONSECUTIVE)
                else:
                    score = _MIN
                cur_d[j] = score
                previous = max(score, previous + gap)
            else:
                previous = previous + gap
            cur_m[j] = previous
        d_rows.append(cur_d)
        m_rows.append(cur_m)
        last_d, last_m = cur_d, cur_m
    # Walk back from the end, preferring to continue a consecutive run.
    positions = [0] * n
    must_match = False
    j = m - 1
    for i in range(n - 1, -1, -1):
        while j >= 0:
            d = d_rows[i][j]
            if d != _MIN and (must_match or d == m_rows[i][j]):
                must_match = i > 0 and j > 0 and m_rows[i][j] == d_rows[i - 1][j - 1] + _CONSECUTIVE
                positions[i] = j
                j -= 1
                break
            j -= 1
    return m_rows[n - 1][m - 1], positions


def match(query: str, candidate: str) -> Match | None:
    """Score `candidate` for `query` (None when the query is not a subsequence of it).

    An empty query matches everything with score 0.
    """
    needle, _ = _fold_chars(query.strip())
    if not needle:
        return Match(0.0, ())
    haystack, origin = _fold_chars(candidate)
    if not _is_subsequence(needle, haystack):
        return None
    if needle == haystack:
        return Match(_EXACT, tuple(sorted(set(origin))))
    if len(haystack) > _MAX_DP:
        folded_positions = _greedy_positions(needle, haystack)
        score = len(haystack) * _GAP_INNER
    else:
        score, folded_positions = _best_alignment(needle, haystack, _bonuses(candidate, origin))
    return Match(score, tuple(sorted({origin[p] for p in folded_positions})))


def score(query: str, candidate: str) -> float | None:
    """Higher is better; None = no match. Case-, width-, accent- and 繁/简-insensitive."""
    result = match(query, candidate)
    return None if result is None else result.score


def rank(query: str, items: Iterable[T], key: Callable[[T], str] = str) -> list[T]:
    """The items whose key matches `query`, best first; ties keep their input order.

    An empty query returns every item in input order.
    """
    pool: Sequence[T] = list(items)
    if not query.strip():
        return list(pool)
    scored: list[tuple[float, T]] = []
    for item in pool:
        value = score(query, key(item))
        if value is not None:
            scored.append((value, item))
    scored.sort(key=lambda pair: -pair[0])  # list.sort is stable
    return [item for _, item in scored]
