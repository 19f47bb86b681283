"""How long a reply may be on each platform, counted the way the platform counts.

Mastodon counts characters with every URL as 23 and `@user@domain` as its
`@user` part, against the instance's `max_characters` (read once per process
from `/api/v2/instance`; a source's `max_characters=` option overrides; 500
when neither is known). Bluesky counts graphemes (300).
Reddit 10,000 and GitHub 65,536 characters; Discourse uses the forum's
`max_post_length` (a source's `max_characters=` option, 32,000 by default).
Sources without a reply API have no limit: the agent replies on the site.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

MASTODON_URL_LENGTH = 23
DEFAULT_LIMITS: dict[str, int] = {
    "mastodon": 500,
    "bluesky": 300,
    "reddit": 10_000,
    "github": 65_536,
    "discourse": 32_000,
}
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_MASTODON_MENTION = re.compile(r"(?<![\w/])(@[\w.]+)@[\w.-]+\.\w+", re.UNICODE)
_ZWJ = "\u200d"


# instance URL -> its max_characters (None: asked, not known); asked once per process
_INSTANCE_LIMITS: dict[str, int | None] = {}


def mastodon_instance_limit(url: str, *, timeout: float = 3.0) -> int | None:
    """The instance's `configuration.statuses.max_characters`, or None when it cannot say.

    Called from a worker thread when the composer opens; a slow or broken
    instance costs at most `timeout` once, then the default applies.
    """
    base = url.rstrip("/")
    if base in _INSTANCE_LIMITS:
        return _INSTANCE_LIMITS[base]
    limit: int | None = None
    try:
        from inboxtui.sources.base import USER_AGENT

        response = httpx.get(
            f"{base}/api/v2/instance", timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        if response.status_code == 200:
            value = response.json().get("configuration", {}).get("statuses", {})
            value = value.get("max_characters") if isinstance(value, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                limit = value
    except (httpx.HTTPError, ValueError, AttributeError):
        limit = None
    _INSTANCE_LIMITS[base] = limit
    return limit


@dataclass(frozen=True)
class Length:
    used: int
    limit: int | None
    unit: str  # "characters" | "graphemes"

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used > self.limit

    def describe(self) -> str:
        if self.limit is None:
            return f"{self.used} {self.unit}"
        return f"{self.used}/{self.limit} {self.unit}"


def limit_for(kind: str, options: Mapping[str, str] | None = None) -> int | None:
    """The source's limit: its `max_characters` option, else the platform's default."""
    raw = (options or {}).get("max_characters")
    if raw and str(raw).isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_LIMITS.get(kind)


def graphemes(text: str) -> int:
    """User-perceived characters: combining marks, variation selectors, ZWJ sequences,
    skin tones and flag pairs join the character before them (a close approximation
    of Unicode extended grapheme clusters, without a dependency)."""
    count = 0
    joined = False  # the previous character was a ZWJ
    regional_open = False  # an unpaired regional indicator precedes
    previous = ""
    for ch in text:
        code = ord(ch)
        extends = (
            unicodedata.combining(ch) != 0
            or unicodedata.category(ch) in ("Mn", "Me", "Mc")
            or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F
            or ch == _ZWJ
        )
        if previous == "\r" and ch == "\n":
            extends = True
        regional = 0x1F1E6 <= code <= 0x1F1FF
        if extends or joined:
            pass
        elif regional and regional_open:
            regional_open = False
        else:
            count += 1
            regional_open = regional
        if not regional:
            regional_open = False if not extends else regional_open
        joined = ch == _ZWJ
        previous = ch
    return count


def mastodon_length(text: str) -> int:
    counted = _URL.sub("x" * MASTODON_URL_LENGTH, text)
    counted = _MASTODON_MENTION.sub(lambda m: m.group(1), counted)
    return len(counted)


def measure(kind: str, text: str, options: Mapping[str, str] | None = None) -> Length:
    """The reply's length as `kind` counts it, against the source's limit."""
    limit = limit_for(kind, options)
    if kind == "bluesky":
        return Length(graphemes(text), limit, "graphemes")
    if kind == "mastodon":
        return Length(mastodon_length(text), limit, "characters")
    return Length(len(text), limit, "characters")


__all__ = [
    "DEFAULT_LIMITS",
    "Length",
    "graphemes",
    "limit_for",
    "mastodon_instance_limit",
    "mastodon_length",
    "measure",
]
