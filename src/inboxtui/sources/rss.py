"""RSS 2.0 / Atom 1.0 feeds (blogs, news, Google Alerts) via feedparser.

httpx fetches (so timeouts, the User-Agent and keep-alive are shared) and
feedparser only parses the bytes. A feed is a sliding window of recent
entries, so the cursor remembers which entry ids it has seen rather than a
date: a back-dated post still counts as new, nothing is skipped. Conditional
GET (ETag / Last-Modified) makes an unchanged feed cost one 304 and no parsing.

Malformed feeds (feedparser's "bozo" flag): entries that could be parsed are
kept and the problem is reported in `notes`; a feed with no parseable entry
is a `SourceError`. A bozo feed's validators are not saved, so the next poll
reads it again in full; when the XML was cut off, its last entry (maybe cut
too) is left for a later poll.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from inboxtui.sources.base import FetchResult, SourceAdapter, SourceError, rate_remaining
from inboxtui.sources.htmltext import html_to_text
from inboxtui.text import sanitize
from inboxtui.timeutil import iso, utcnow

# Seen ids kept beyond the current feed window, so an entry that drops off and
# comes back is not taken twice (the store would drop it anyway).
SEEN_SLACK = 200
# expat's words for a document that simply stops: the last entry may be incomplete
_CUT_OFF = ("no element found", "unclosed token", "unclosed cdata", "unexpected eof")
# bozo reasons that say nothing about the entries (a charset or MIME type mismatch)
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class RssAdapter(SourceAdapter):
    kind = "rss"
    default_url = None
    can_reply = False
    options_help = {"url": "the RSS or Atom feed URL (required)"}

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        cursor = cursor or {}
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9"}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("modified"):
            headers["If-Modified-Since"] = cursor["modified"]
        response = await self.request("GET", self.url, headers=headers)
        remaining = rate_remaining(response)
        if response.status_code == 304:
            return FetchResult(mentions=[], cursor=cursor or None, rate_remaining=remaining)

        parsed = feedparser.parse(
            io.BytesIO(response.content),  # a stream: never let feedparser fetch or open files
            response_headers={
                "content-type": response.headers.get("content-type", "application/xml"),
                "content-location": str(response.url),
            },
        )
        notes: list[str] = []
        entries = [entry for entry in parsed.entries if _entry_key(entry)]
        malformed = bool(parsed.bozo) and not isinstance(parsed.get("bozo_exception"), _BENIGN)
        if malformed:
            problem = str(parsed.get("bozo_exception") or "malformed feed")[:200]
            if not entries:
                what = "malformed feed" if parsed.get("version") else "not an RSS/Atom feed"
                raise SourceError(f"{self.name}: {what}: {problem}")
            if any(word in problem.lower() for word in _CUT_OFF):
                entries = entries[:-1]
            notes.append(f"feed is malformed ({problem}); kept {len(entries)} entries")
        elif not parsed.get("version") and not entries:
            raise SourceError(f"{self.name}: not an RSS/Atom feed (is the URL right?)")

        feed = parsed.get("feed", {})
        seen = list(cursor.get("seen", []))
        seen_set = set(seen)
        fetched_at = utcnow()
        fresh: list[tuple[datetime, int, dict[str, Any]]] = []
        keys_in_feed: list[str] = []
        for position, entry in enumerate(entries):
            key = _entry_key(entry)
            keys_in_feed.append(key)
            if key in seen_set:
                continue
            seen_set.add(key)
            created = _entry_time(entry) or fetched_at
            # feeds list newest first: undated entries keep that order, reversed
            fresh.append((created, -position, self._mention(entry, feed, key, created)))
        fresh.sort(key=lambda item: (item[0], item[1]))

        # the whole current window, newest first, then older ids up to the slack
        current = list(dict.fromkeys(keys_in_feed))
        in_feed = set(current)
        merged = current + [key for key in dict.fromkeys(seen) if key not in in_feed]
        next_cursor: dict[str, Any] = {"seen": merged[: len(current) + SEEN_SLACK]}
        if not malformed:
            if response.headers.get("etag"):
                next_cursor["etag"] = response.headers["etag"]
            if response.headers.get("last-modified"):
                next_cursor["modified"] = response.headers["last-modified"]
        return FetchResult(
            mentions=[mention for _, _, mention in fresh],
            cursor=next_cursor,
            rate_remaining=remaining,
            notes=notes,
        )

    def _mention(self, entry: Any, feed: Any, key: str, created: datetime) -> dict[str, Any]:
        title = _plain(entry.get("title_detail"), entry.get("title"))
        body = ""
        for content in entry.get("content") or []:
            body = _plain(content, content.get("value"))
            if body:
                break
        if not body:
            body = _plain(entry.get("summary_detail"), entry.get("summary"))
        author_detail = entry.get("author_detail") or {}
        handle = (
            author_detail.get("name")
            or entry.get("author")
            or author_detail.get("email")
            or feed.get("title")
            or urlsplit(self.url).hostname
            or self.name
        )
        record = self.record(
            external_id=key,
            created_at=iso(created),
            text=body or title or str(entry.get("link") or key),
            title=title or None,
            url=_http_url(entry.get("link")),
            author={"handle": handle, "name": author_detail.get("name"), "followers": None},
            lang=_lang(entry, feed),
            in_reply_to=None,
            raw=_jsonable(entry),
        )
        return record


def _entry_key(entry: Any) -> str:
    """The entry's identity: its id/guid, else its link, else a hash of what it says.

    Ids are keys and must stay exact, so one with control or invisible characters
    (which ingest refuses) is replaced by its hash.
    """
    key = str(entry.get("id") or entry.get("link") or "").strip()
    if key:
        if sanitize(key) == key:
            return key
        return "sha1:" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()
    title, summary = entry.get("title"), entry.get("summary")
    if not title and not summary:
        return ""  # nothing to identify (an empty, cut-off entry)
    basis = "\x1f".join(str(part or "") for part in (title, entry.get("published"), summary))
    return "sha1:" + hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()


def _http_url(value: Any) -> str | None:
    """Links are shown and opened: only http(s) ones (no javascript:, tag:, mailto:)."""
    url = str(value or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else None


def _entry_time(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _plain(detail: Any, value: Any) -> str:
    """Text of a feed field: HTML (or XHTML) is converted, plain text kept as is."""
    if not value:
        return ""
    kind = (detail or {}).get("type", "") if isinstance(detail, dict) else ""
    if "html" in kind or "<" in str(value):
        return html_to_text(str(value))
    return str(value).strip()


def _lang(entry: Any, feed: Any) -> str | None:
    for detail in (entry.get("title_detail"), entry.get("summary_detail")):
        if isinstance(detail, dict) and detail.get("language"):
            return _primary(detail["language"])
    language = feed.get("language") if hasattr(feed, "get") else None
    return _primary(language) if language else None


def _primary(tag: str) -> str | None:
    primary = str(tag).strip().replace("_", "-").split("-")[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def _jsonable(value: Any) -> Any:
    """feedparser's dicts hold time tuples and bytes; keep what JSON can carry."""
    if isinstance(value, dict):
        return {
            str(key): _jsonable(item)
            for key, item in value.items()
            if not isinstance(item, time.struct_time)
        }
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


ADAPTER = RssAdapter
