"""The default scorer: word valences plus a few rules, in English and Chinese.

Why lexicon and rules rather than a model: it must run offline on any CPU, at
ingest speed (tens of thousands of mentions a second), with nothing downloaded,
and a social team must be able to see *why* a mention scored as it did and add
a word when their brand has its own vocabulary (the lists are plain TSV files
next to this module).

The rules follow VADER (Hutto & Gilbert 2014), whose English lexicon ships
here: a sentiment word's valence is raised by a degree word before it ("very
slow"), flipped and damped by a negation ("not good" -> x -0.74), weighted
x0.5 before and x1.5 after a contrast ("nice staff but the food was cold"),
strengthened by ALL CAPS and by exclamation marks, and the sum is squashed to
[-1, 1] with x / sqrt(x^2 + 15). Chinese text is folded to Simplified first
(so one lexicon serves both scripts) and cut by longest match against the
lexicon and the modifier lists, since it has no spaces.

Two rules matter for a brand's inbox in particular:
- sarcasm: a short, purely positive clause ("Great,", "Awesome.", "谢谢喔，")
  at either end of a text whose other clauses are negative is read as sarcasm
  and counts negative ("Great, another outage"); positive words in scare quotes
  ("free upgrade") in a negative text count for nothing;
- questions: a question with no strong word is damped, since "does the
  warranty cover damage?" asks rather than complains.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from inboxtui.sentiment import Sentiment, label_for

_ALPHA = 15.0  # VADER's normaliser: s / sqrt(s^2 + alpha)
_NEGATION_SCALAR = -0.74
_CAPS_BOOST = 0.733
_EXCLAMATION_BOOST = 0.292
_CONTRAST_BEFORE = 0.5
_CONTRAST_AFTER = 1.5
_QUESTION_DAMP = 0.5
_STRONG = 2.5  # a word at least this strong keeps a question's full weight
# A clause this short (words; Chinese characters count as words) and purely
# positive may be sarcastic when the rest of the text is negative.
# (opening clause "Great, ...", closing clause "... Awesome.") by language (Chinese: True)
_SARCASM_CLAUSE_WORDS = {False: (3, 2), True: (4, 3)}
_SARCASM_REST = 1.5  # ...and only when the rest is clearly negative (a real complaint word)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAS_CJK = re.compile(f"[{_CJK}]")
_HAS_KANA = re.compile("[\u3040-\u30ff]")
_HAS_HANGUL = re.compile("[\uac00-\ud7af]")
_HAS_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")
_CLAUSE_END = frozenset(".,!?;:。，！？；：、…\n")
_QUOTES = frozenset('"“”「」『』')
_EMOJI = "\U0001f300-\U0001faff\u2600-\u27bf"
_SHOUTED = re.compile(r"[A-Z]{2}")
_EN_PATTERN = (
    r"\d+/\d+"  # 10/10
    r"|[a-z0-9]+[+]?"  # words (apostrophes already dropped), "a+"
    r"|[:;=8x][-o^']?[()\[\]dpo/\\|*3]+(?![a-z])"  # emoticons
    f"|[{_EMOJI}]\ufe0f?"
    r"|[.,!?;:\"“”…\n]"
)
_EN_TOKEN = re.compile(_EN_PATTERN)  # over lower-cased text (faster than IGNORECASE)
_EN_TOKEN_ANY_CASE = re.compile(_EN_PATTERN, re.IGNORECASE)  # the same tokens, case kept


@dataclass(slots=True)
class _Term:
    """One scored unit of a text: a sentiment word, a modifier or punctuation."""

    text: str
    valence: float = 0.0
    kind: str = "word"  # word | negation | degree | contrast | punct | quote
    degree: float = 0.0
    caps: bool = False
    polar: bool = False


# Shared terms for what only takes up a place (they are never changed).
_PUNCT = _Term(".", kind="punct")
_QUOTE = _Term('"', kind="quote")
_OTHER = _Term("", kind="other")
_PLAIN = _Term("", kind="word")


@dataclass(slots=True)
class _Lexicon:
    words: dict[str, float]
    # English: first token -> (tokens, term) of the phrases it starts, longest first
    phrases: dict[str, list[tuple[tuple[str, ...], _Term]]] = field(default_factory=dict)
    modifiers: dict[str, tuple[str, float]] = field(default_factory=dict)
    # what can start a scored unit: English tokens; Chinese first character ->
    # the lengths of the entries it starts, longest first
    known: frozenset[str] = frozenset()
    starts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # The term a token (English: sentiment word, modifier, punctuation) or an entry
    # (Chinese: word, modifier) stands for; shared, so never changed (speed: looked
    # up once per token instead of built).
    term_of: dict[str, _Term] = field(default_factory=dict)
    polar_of: dict[str, _Term] = field(default_factory=dict)  # English: sentiment words only
    phrase_starts: frozenset[str] = frozenset()  # English: tokens that may start a phrase
    scan: re.Pattern[str] = re.compile("$^")  # Chinese: where something may start


def _rows(name: str) -> Iterable[list[str]]:
    text = resources.files("inboxtui.sentiment").joinpath(name).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) < 2:
            raise ValueError(f"{name}:{number}: expected TOKEN<TAB>VALUE, got {line!r}")
        yield cells


def _number(name: str, cells: list[str], index: int) -> float:
    try:
        return float(cells[index])
    except (IndexError, ValueError):
        raise ValueError(f"{name}: {cells[0]!r}: column {index + 1} must be a number") from None


@lru_cache(maxsize=1)
def english() -> _Lexicon:
    """VADER's lexicon with the brand overlay on top, and the English modifiers."""
    lexicon = _Lexicon({})
    phrases: dict[tuple[str, ...], float] = {}
    for name in ("en_vader.tsv", "en_brand.tsv"):  # the brand list's entries win
        for cells in _rows(name):
            token, valence = cells[0].replace("'", ""), _number(name, cells, 1)
            parts = tuple(token.split())
            if len(parts) == 1:
                lexicon.words[token] = valence
            elif parts:
                phrases[parts] = valence
    for parts, valence in phrases.items():
        term = _Term(" ".join(parts), valence, polar=True)
        lexicon.phrases.setdefault(parts[0], []).append((parts, term))
    for options in lexicon.phrases.values():
        options.sort(key=lambda item: -len(item[0]))
    for cells in _rows("en_modifiers.tsv"):
        kind = cells[1]
        value = _number("en_modifiers.tsv", cells, 2) if len(cells) > 2 else 1.0
        lexicon.modifiers[cells[0]] = (kind, value)
    lexicon.known = frozenset(
        [w for w, v in lexicon.words.items() if v] + list(lexicon.modifiers) + list(lexicon.phrases)
    )
    lexicon.phrase_starts = frozenset(lexicon.phrases)
    lexicon.polar_of = {w: _Term(w, v, polar=True) for w, v in lexicon.words.items() if v}
    # Later entries win: a token is a quote, else punctuation, else a modifier, else a word.
    term_of = lexicon.term_of
    term_of.update(lexicon.polar_of)
    term_of.update((m, _Term(m, kind=k, degree=v)) for m, (k, v) in lexicon.modifiers.items())
    term_of.update((char, _PUNCT) for char in _CLAUSE_END)
    term_of.update((char, _QUOTE) for char in _QUOTES)
    return lexicon


@lru_cache(maxsize=1)
def chinese() -> _Lexicon:
    """The Chinese lexicon and modifiers, folded to Simplified like the text."""
    lexicon = _Lexicon({})
    for cells in _rows("zh.tsv"):
        lexicon.words[_simplified(cells[0])] = _number("zh.tsv", cells, 1)
    for cells in _rows("zh_modifiers.tsv"):
        value = _number("zh_modifiers.tsv", cells, 2) if len(cells) > 2 else 1.0
        lexicon.modifiers[_simplified(cells[0])] = (cells[1], value)
    # The term each entry stands for (shared; `_chinese_terms` copies the ones it changes)
    for piece, valence in lexicon.words.items():
        # a listed neutral word (推出) shields what it contains
        lexicon.term_of[piece] = _Term(piece, valence, polar=True) if valence else _PLAIN
    for piece, (kind, value) in lexicon.modifiers.items():
        # 好 is "good" alone and "very" before a word: a modifier keeps its valence
        valence = lexicon.words.get(piece) or 0.0
        lexicon.term_of[piece] = _Term(piece, valence, kind=kind, degree=value)
    sizes: dict[str, set[int]] = {}
    for entry in (*lexicon.words, *lexicon.modifiers):
        sizes.setdefault(entry[0], set()).add(len(entry))
    lexicon.starts = {char: tuple(sorted(s, reverse=True)) for char, s in sizes.items()}
    special = "".join(sorted(set(lexicon.starts) | _CLAUSE_END | _QUOTES | {"~", "～"}))
    lexicon.scan = re.compile(f"[{re.escape(special)}]|[a-z0-9]+")
    return lexicon


# -- language -------------------------------------------------------------------


@lru_cache(maxsize=1)
def _converters():
    import opencc

    return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")


def detect_language(text: str, hint: str | None = None) -> str:
    """Script-based language: zh-Hant / zh-Hans by OpenCC round trip, ja, ko, en.

    Chinese text whose characters are the same in both scripts (很好) follows
    the hint when there is one, else is called zh-Hans. Latin text follows a
    non-Chinese hint ("fr") or is called "en"; no letters at all is "und".
    """
    return _read_script(text, hint)[0]


@lru_cache(maxsize=1)
def _script_sets() -> tuple[frozenset[str], frozenset[str]]:
    """Characters OpenCC changes t2s (Traditional) and s2t (Simplified-only).

    Built once by converting every CJK character in one call each (~30 ms), so
    telling the scripts apart costs a set test per mention, not two conversions.
    A character the same in both scripts (很, 好) is in neither set.
    """
    t2s, s2t = _converters()
    chars = [chr(c) for c in (*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000))]
    joined = "\n".join(chars)
    to_simplified = t2s.convert(joined).split("\n")
    to_traditional = s2t.convert(joined).split("\n")
    if len(to_simplified) != len(chars) or len(to_traditional) != len(chars):
        raise RuntimeError("OpenCC changed the number of lines while converting characters")
    return (
        frozenset(c for c, s in zip(chars, to_simplified, strict=True) if s != c),
        frozenset(c for c, t in zip(chars, to_traditional, strict=True) if t != c),
    )


def _latin(text: str, hint: str | None) -> str:
    if not _HAS_LATIN.search(text):
        return "und"
    hinted = (hint or "").split("-")[0].lower()
    return hinted if hinted.isalpha() and hinted not in ("zh", "und") else "en"


def _simplified(text: str) -> str:
    """Width-folded, lower-case, Simplified: how text meets the Chinese lexicon."""
    return _converters()[0].convert(unicodedata.normalize("NFKC", text).lower())


def _read_script(text: str, hint: str | None) -> tuple[str, str | None]:
    """(language, the text folded to Simplified for the Chinese lexicon, else None)."""
    if text.isascii():
        return _latin(text, hint), None
    if _HAS_KANA.search(text):
        return "ja", None
    if _HAS_HANGUL.search(text):
        return "ko", None
    if _HAS_CJK.search(text):
        traditional, simplified_only = _script_sets()
        normal = unicodedata.normalize("NFKC", text).lower()  # full-width -> ASCII
        if not traditional.isdisjoint(normal):
            return "zh-Hant", _converters()[0].convert(normal)
        # no Traditional-only character: folding to Simplified would change nothing
        if not simplified_only.isdisjoint(normal):
            return "zh-Hans", normal
        hinted = (hint or "").lower()
        if hinted in ("zh-hant", "zh-tw", "zh-hk", "zh-mo"):
            return "zh-Hant", normal
        return "zh-Hans", normal
    return _latin(text, hint), None


# -- tokenising -----------------------------------------------------------------


def _english_terms(text: str) -> list[_Term]:
    lexicon = english()
    plain = text.replace("’", "").replace("'", "")  # don't -> dont, as the lexicon has it
    lowered = _EN_TOKEN.findall(plain.lower())
    if lexicon.known.isdisjoint(lowered):
        return []  # no sentiment word, modifier or phrase: the common neutral case
    # ALL CAPS emphasis counts only in mixed-case text ("this is BAD", not "THIS IS BAD")
    shouted = _SHOUTED.search(plain) and not plain.isupper()
    raw = _EN_TOKEN_ANY_CASE.findall(plain) if shouted else None
    if raw is not None and len(raw) != len(lowered):  # lower() changed a token's length
        raw = None
    # One term per token, looked up (speed: this runs for every mention)...
    get = lexicon.term_of.get
    terms = [get(token, _PLAIN) for token in lowered]
    if raw is not None:
        for i, token in enumerate(raw):
            if len(token) > 1 and token.isupper() and terms[i].polar:
                term = terms[i]
                terms[i] = _Term(term.text, term.valence, caps=True, polar=True)
    if lexicon.phrase_starts.isdisjoint(lowered):
        return terms
    # ...then phrases, left to right, each standing for the tokens it covers.
    phrase_starts, phrases = lexicon.phrase_starts, lexicon.phrases
    out: list[_Term] = []
    done = 0  # tokens before this one are in `out` already
    for i in [i for i, token in enumerate(lowered) if token in phrase_starts]:
        if i < done:
            continue  # inside the phrase just taken
        for parts, term in phrases[lowered[i]]:
            if tuple(lowered[i : i + len(parts)]) == parts:
                out.extend(terms[done:i])
                out.append(term)
                done = i + len(parts)
                break
    if not done:
        return terms
    out.extend(terms[done:])
    return out


# Runs of characters no entry starts with stand for this many places at most:
# enough to stop a modifier's reach (3) and to make a clause too long for sarcasm.
_GAP_CAP = 5
_GAPS = [(_OTHER,) * min(size, _GAP_CAP) for size in range(64)]


def _chinese_terms(folded: str) -> list[_Term]:
    """Longest match of lexicon words and modifiers over folded text; Latin words too.

    A regular expression jumps to the characters that can start something
    (an entry, punctuation, a Latin word); what lies between is a gap.
    """
    lexicon = chinese()
    entries, starts = lexicon.term_of, lexicon.starts
    english_words = english().polar_of
    terms: list[_Term] = []
    dual: list[int] = []  # where a degree word that is also a sentiment word stands
    i = 0
    for match in lexicon.scan.finditer(folded):
        at = match.start()
        if at < i:
            continue  # inside an entry already taken
        if at > i:
            terms.extend(_GAPS[min(at - i, _GAP_CAP)])
        token = match.group()
        i = at + 1
        sizes = starts.get(token[0])
        if sizes is not None:
            for size in sizes:
                term = entries.get(folded[at : at + size])
                if term is None:
                    continue
                if term.kind == "degree" and term.valence:  # changed below: this one's own
                    dual.append(len(terms))
                    term = _Term(term.text, term.valence, term.kind, term.degree)
                terms.append(term)
                i = at + size
                break
            else:
                sizes = None
            if sizes is not None:
                continue
        if token in _CLAUSE_END or token in "~～":
            terms.append(_PUNCT)
        elif token in _QUOTES:
            terms.append(_QUOTE)
        elif token.isascii():  # a Latin word or number ("app", "cp")
            end = match.end()
            while end < len(folded) and folded[end].isascii() and folded[end].isalnum():
                end += 1
            terms.append(english_words.get(folded[at:end], _PLAIN))
            i = end
        else:
            terms.append(_OTHER)
    if len(folded) > i:
        terms.extend(_GAPS[min(len(folded) - i, _GAP_CAP)])
    # A word that is both a degree word and a sentiment word (好, 超) is a degree
    # word only when a sentiment word follows it, else it keeps its own valence.
    for index in dual:
        following = terms[index + 1] if index + 1 < len(terms) else None
        if following is None or not following.polar:
            term = terms[index]
            term.kind, term.polar = "word", True
    return terms


# -- scoring ----------------------------------------------------------------------


def _score_terms(terms: list[_Term], text: str, *, multiply_degree: bool) -> float:
    polar = [index for index, term in enumerate(terms) if term.polar]
    if not polar:
        return 0.0
    values: list[float] = [0.0] * len(terms)
    for index in polar:
        term = terms[index]
        valence = term.valence
        if term.caps:
            valence += math.copysign(_CAPS_BOOST, valence)
        negated = False
        for distance in (1, 2, 3):
            j = index - distance
            if j < 0:
                break
            before = terms[j]
            if before.polar or before.kind in ("punct", "contrast"):
                break
            if before.kind == "degree":
                if multiply_degree:  # Chinese degree words scale: 很 x1.3, 有点 x0.7
                    valence *= before.degree
                else:
                    valence += math.copysign(before.degree, valence) * (1.0 - 0.05 * (distance - 1))
            elif before.kind == "negation":
                negated = not negated
                valence *= before.degree  # 1.0, or 0.5 for 不太 ("not very")
        if negated:
            valence *= _NEGATION_SCALAR
        values[index] = valence
    contrasts = [index for index, term in enumerate(terms) if term.kind == "contrast"]
    if contrasts:
        contrast_at = contrasts[-1]
        for index in polar:
            values[index] *= _CONTRAST_BEFORE if index < contrast_at else _CONTRAST_AFTER
    polar_values = [values[index] for index in polar]
    if min(polar_values) < 0 < max(polar_values):
        _read_sarcasm(terms, values, _SARCASM_CLAUSE_WORDS[multiply_degree])
        polar_values = [values[index] for index in polar]
    total = sum(polar_values)
    if not total:
        return 0.0
    strongest = max(abs(v) for v in polar_values)
    if strongest < _STRONG and text.rstrip().endswith(("?", "？", "吗", "嗎")):
        total *= _QUESTION_DAMP
    exclamations = min(text.count("!") + text.count("！"), 4)
    total += math.copysign(exclamations * _EXCLAMATION_BOOST, total)
    return total / math.sqrt(total * total + _ALPHA)


def _read_sarcasm(terms: list[_Term], values: list[float], short: tuple[int, int]) -> None:
    """Flip a short, purely positive clause at either end of an otherwise negative text."""
    negative = sum(v for v in values if v < 0)
    if not negative:
        return
    # Positive words in scare quotes in a negative text: the "free upgrade".
    inside = False
    for index, term in enumerate(terms):
        if term.kind == "quote":
            inside = not inside
        elif inside and values[index] > 0:
            values[index] = 0.0
    clauses = _clause_spans(terms)
    if len(clauses) < 2:
        return
    for span, limit in ((clauses[0], short[0]), (clauses[-1], short[1])):
        words = [i for i in span if terms[i].kind in ("word", "other")]
        polar = [values[i] for i in words if values[i]]
        if not polar or min(polar) <= 0 or len(words) > limit:
            continue
        rest = sum(values[i] for c in clauses if c is not span for i in c)
        if rest <= -_SARCASM_REST:
            for i in words:
                if values[i] > 0:
                    values[i] = -values[i]


def _clause_spans(terms: list[_Term]) -> list[list[int]]:
    spans: list[list[int]] = [[]]
    for index, term in enumerate(terms):
        if term.kind == "punct":
            if spans[-1]:
                spans.append([])
            continue
        spans[-1].append(index)
    return [span for span in spans if span]


class LexiconScorer:
    """The built-in `Scorer`: English (VADER + brand words) and Chinese lexicons."""

    def __init__(self) -> None:
        english()
        chinese()
        _script_sets()

    def score(self, text: str, lang: str | None = None) -> Sentiment:
        text = text or ""
        language, simplified = _read_script(text, lang)
        if simplified is not None:
            value = _score_terms(_chinese_terms(simplified), text, multiply_degree=True)
        else:  # Latin text; for other scripts only emoji and Latin words are scored
            value = _score_terms(_english_terms(text), text, multiply_degree=False)
        value = max(-1.0, min(1.0, round(value, 4)))
        return Sentiment(value, label_for(value), language)

    def score_many(
        self, texts: Iterable[str], langs: Iterable[str | None] | None = None
    ) -> list[Sentiment]:
        if langs is None:
            return [self.score(text) for text in texts]
        return [self.score(text, lang) for text, lang in zip(texts, langs, strict=True)]
