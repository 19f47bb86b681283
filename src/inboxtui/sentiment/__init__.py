"""Sentiment of a mention: a score in [-1, 1], a label and the detected language.

The rest of the app depends only on this module's interface (`Sentiment`,
`Scorer`, `score_text`, `default_scorer`, `label_for`), so a better model can be
plugged in with `set_default_scorer` without touching ingest, detection or the
TUI. The default scorer (`inboxtui.sentiment.lexicon`) is rule and lexicon
based: offline, CPU only, nothing downloaded at run time, tens of thousands of
mentions a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

# A score at or beyond +-LABEL_THRESHOLD gets a polar label. 0.05 is VADER's
# published cut-off for its compound score; our scores follow the same scale
# (sum of word valences squashed by x / sqrt(x^2 + 15)), so one mildly polar
# word ("ok" 0.9 -> 0.23) already counts, while a lone weak hint does not.
LABEL_THRESHOLD = 0.05


@dataclass(frozen=True, slots=True)
class Sentiment:
    """One text's sentiment."""

    score: float  # in [-1, 1]
    label: str  # "negative" | "neutral" | "positive"
    language: str  # "en" | "zh-Hant" | "zh-Hans" | "ja" | "ko" | "und" ...


def label_for(score: float) -> str:
    """The label for a score: negative <= -0.05 < neutral < 0.05 <= positive."""
    if score <= -LABEL_THRESHOLD:
        return "negative"
    if score >= LABEL_THRESHOLD:
        return "positive"
    return "neutral"


@runtime_checkable
class Scorer(Protocol):
    """What ingest, detection and the CLI need from a sentiment model."""

    def score(self, text: str, lang: str | None = None) -> Sentiment: ...

    def score_many(
        self, texts: Iterable[str], langs: Iterable[str | None] | None = None
    ) -> list[Sentiment]: ...


_default: Scorer | None = None


def default_scorer() -> Scorer:
    """The scorer the app uses (built once: loading the lexicons takes ~50 ms)."""
    global _default
    if _default is None:
        from inboxtui.sentiment.lexicon import LexiconScorer

        _default = LexiconScorer()
    return _default


def set_default_scorer(scorer: Scorer | None) -> None:
    """Plug in another model for the whole process (None restores the built-in one)."""
    global _default
    _default = scorer


def score_text(text: str, lang: str | None = None) -> Sentiment:
    """Score one text with the default scorer. `lang` is a hint (e.g. the API's)."""
    return default_scorer().score(text, lang)


__all__ = [
    "LABELS",
    "LABEL_THRESHOLD",
    "Scorer",
    "Sentiment",
    "default_scorer",
    "label_for",
    "score_text",
    "set_default_scorer",
]
