"""Untrusted text: make it inert, and fold it for search.

Everything that arrives from the internet passes `sanitize` at ingest (and the
TUI passes it again at render). `search_tokens` turns text into the tokens the
full-text index stores; the same function tokenises queries, so both sides of
a match are always folded the same way (case, width, diacritics, Traditional
vs Simplified Chinese).

Why bigrams for CJK: Chinese, Japanese and Korean are written without spaces
and most Chinese words are two characters (退款, 客服). A CJK run is indexed
as its overlapping bigrams plus its last character, so a query of any length
is a phrase of bigrams (or a one-character prefix), matched by the index with
no full scan. Latin-script words are indexed whole and matched by prefix.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# ANSI/VT sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other ESC x.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
)
# C0 except \t and \n, DEL, C1; bidi embeddings/overrides/isolates and marks;
# zero-width space, non-joiner, word joiner, BOM; invisible tag characters.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
# A zero-width joiner is kept only inside emoji sequences (👩\u200d💻).
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf"
_LONE_ZWJ = re.compile(f"(?<![{_EMOJI}\ufe0f])\u200d|\u200d(?![{_EMOJI}])")

_CJK = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_TOKEN = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")
_ASCII_WORD = re.compile("[a-z0-9]+")
_HAS_CJK = re.compile(f"[{_CJK}]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def sanitize(text: str | None) -> str:
    """Remove what could act on a terminal or spoof a reader; keep newlines and tabs."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    if text.isascii() and text.isprintable():
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _LONE_ZWJ.sub("", text)
    return _INVISIBLE.sub("", text)


def one_line(text: str, limit: int = 200) -> str:
    """A single-line excerpt: whitespace runs collapsed, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Fold for matching: NFKC width, no diacritics, casefold, Simplified Chinese."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    text = _COMBINING.sub("", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    if _HAS_CJK.search(text):
        text = _t2s().convert(text)
    return text


def search_tokens(text: str) -> list[str]:
    """Tokens to index for `text` (already sanitised), in order."""
    folded = fold(text)
    if folded.isascii():  # same tokens as _TOKEN gives, ~10x faster (the bulk of ingest)
        return _ASCII_WORD.findall(folded)
    tokens: list[str] = []
    for cjk, word in _TOKEN.findall(folded):
        if word:
            tokens.append(word)
        else:
            tokens.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
            tokens.append(cjk[-1])
    return tokens


@dataclass(frozen=True, slots=True)
class QueryToken:
    text: str
    prefix: bool


def phrase_tokens(term: str, *, whole_words: bool = False) -> list[QueryToken]:
    """One search term (a bare word or a quoted phrase) -> a phrase of query tokens.

    Consecutive tokens must be adjacent in the document. Latin words match as
    prefixes unless `whole_words` (quoted phrases match whole words, except the
    last one, so that `"money ba` still narrows as you type).
    """
    out: list[QueryToken] = []
    matches = _TOKEN.findall(fold(term))
    for index, (cjk, word) in enumerate(matches):
        last = index == len(matches) - 1
        if word:
            out.append(QueryToken(word, prefix=(not whole_words) or last))
        elif len(cjk) == 1:
            out.append(QueryToken(cjk, prefix=True))
        else:
            out.extend(QueryToken(cjk[i : i + 2], prefix=False) for i in range(len(cjk) - 1))
    return out
