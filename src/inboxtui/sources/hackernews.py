"""Hacker News stories and comments matching a query, via the Algolia HN Search API.

`search_by_date` lists newest first, `numericFilters=created_at_i>=T` bounds
it in time and `page` walks it until `nbPages`. Algolia indexes with a delay,
so each poll looks back `overlap` seconds before the newest item it saw and
drops what it already has (objectID): a late-indexed comment is not lost.

Algolia serves at most 1000 hits per query; when more matched, the window is
narrowed to end at the oldest hit read and paged again. A poll makes at most
`max_requests` requests: what it could not reach is kept in the cursor as a
gap (one time range, with the ids already taken at its upper edge) that the
next polls read first, so a flood is delayed, not lost.

The first poll takes the newest page only: listening starts now, it does not
import the archive.

Reach: HN has no followers. An author's `karma`, from the official user API
(`{user_url}/user/{id}.json`), is stored as their `followers`: on HN, reach
means karma. Looked up once per `profile_ttl`, at most `max_profiles` per
poll (see `inboxtui.sources.profiles`).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from inboxtui.sources.base import ConfigError, FetchResult, SourceAdapter, SourceError
from inboxtui.sources.htmltext import html_to_text
from inboxtui.sources.profiles import ReachCache, add_reach
from inboxtui.timeutil import iso, parse_iso

HITS_PER_PAGE = 100
MAX_REQUESTS = 20
DEFAULT_OVERLAP = 600  # seconds looked back for late-indexed items
ITEM_URL = "https://news.ycombinator.com/item?id="
USER_API = "https://hacker-news.firebaseio.com/v0"
MAX_PROFILES = 30  # user look-ups per poll, by default


class HackerNewsAdapter(SourceAdapter):
    kind = "hackernews"
    default_url = "https://hn.algolia.com/api/v1"
    can_reply = False
    options_help = {
        "query": "words to search stories and comments for (required)",
        "tags": "Algolia tags filter (default: (story,comment))",
        "overlap": f"seconds to look back for late-indexed items (default {DEFAULT_OVERLAP})",
        "url": "Algolia HN Search API base (default https://hn.algolia.com/api/v1)",
        "user_url": f"HN user API base, for authors' karma (default {USER_API})",
        "profile_ttl": "seconds an author's karma is cached (default 21600)",
        "max_profiles": f"authors looked up per poll (default {MAX_PROFILES}; 0: none)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.query = (self.options.get("query") or "").strip()
        if not self.query:
            raise ConfigError(f"source {self.name!r}: option query= is required for hackernews")
        self.tags = self.options.get("tags") or "(story,comment)"
        try:
            self.overlap = int(self.options.get("overlap") or DEFAULT_OVERLAP)
        except ValueError:
            raise ConfigError(f"source {self.name!r}: overlap= must be whole seconds") from None
        self._requests_left = 0
        self.hits_per_page = HITS_PER_PAGE
        self.max_requests = MAX_REQUESTS
        self.user_url = (self.options.get("user_url") or USER_API).rstrip("/")
        self.max_profiles = int(self.number_option("max_profiles", MAX_PROFILES, whole=True))
        self._profiles = ReachCache(self.number_option("profile_ttl", 6 * 3600))

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        cursor = cursor or {}
        self._requests_left = self.max_requests
        known: dict[str, int] = {str(k): int(v) for k, v in cursor.get("recent", {}).items()}
        found: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        last = cursor.get("last")
        gap = cursor.get("gap")
        if last is None:
            self._collect(await self._search(None, None, 0), found)
        else:
            if gap:
                # an older range a previous poll could not finish: it goes first, so
                # progress is steady and there is never more than one gap
                skip = {str(k): int(v) for k, v in gap.get("skip", {}).items()}
                window: dict[str, dict[str, Any]] = {}
                lower, upper = int(gap["lower"]), int(gap["upper"])
                gap = await self._window(lower, upper, window, notes, {**known, **skip})
                found.update({key: hit for key, hit in window.items() if key not in skip})
            if not gap and self._requests_left > 0:
                gap = await self._window(int(last) - self.overlap, None, found, notes, known)

        fresh = [hit for key, hit in found.items() if key not in known]
        fresh.sort(key=lambda hit: (_time(hit), str(hit["objectID"])))
        times = [_time(hit) for hit in found.values()]
        if last is not None:
            times.append(int(last))
        # nothing matched yet: listen from now on
        newest = max(times) if times else int(time.time())
        known.update({key: _time(hit) for key, hit in found.items()})
        recent = {key: t for key, t in known.items() if t >= newest - self.overlap}
        next_cursor: dict[str, Any] = {"last": newest, "recent": recent}
        if gap:
            next_cursor["gap"] = gap
            notes.append("more items than one poll reads: older ones follow in later polls")
        mentions = [self._mention(hit) for hit in fresh]
        await add_reach(
            mentions,
            _author_id,
            self._profiles,
            self._karma,
            notes=notes,
            max_requests=self.max_profiles,
            what="karma",
        )
        return FetchResult(mentions=mentions, cursor=next_cursor, notes=notes)

    async def _karma(self, ids: list[str]) -> dict[str, int | None]:
        """Each user's karma (`null` answers a user that does not exist)."""
        found: dict[str, int | None] = {}
        for user_id in ids:
            data, _ = await self.get_json(f"{self.user_url}/user/{quote(user_id, safe='')}.json")
            karma = data.get("karma") if isinstance(data, dict) else None
            found[user_id] = karma if isinstance(karma, int) and karma >= 0 else None
        return found

    async def _window(
        self,
        lower: int,
        upper: int | None,
        found: dict[str, dict[str, Any]],
        notes: list[str],
        known: dict[str, int],
    ) -> dict[str, Any] | None:
        """Read every hit with lower <= created_at_i <= upper; return the range left unread.

        Called with at least one request left, so at least one page is read. The range
        left carries (`skip`) the ids in it that are already taken: those known before
        and those read now at its upper edge.
        """
        page = 0
        seen_here: dict[str, int] = {}
        while True:
            data = await self._search(lower, upper, page)
            hits = self._collect(data, found)
            seen_here.update({str(hit["objectID"]): _time(hit) for hit in hits})
            pages = _int(data.get("nbPages"))
            per_page = _int(data.get("hitsPerPage")) or self.hits_per_page
            if hits and page + 1 < pages:
                page += 1
            elif _int(data.get("nbHits")) > pages * per_page and seen_here:
                # Algolia stopped at its hit limit: read again, ending at the oldest hit read
                oldest = min(seen_here.values())
                if upper is not None and oldest >= upper:
                    notes.append(f"more than {pages * per_page} items in one second; some missed")
                    return None
                upper, page = oldest, 0
            else:
                return None
            if self._requests_left <= 0:
                oldest = min(seen_here.values())
                skip = {key: t for key, t in known.items() if lower <= t <= oldest}
                skip.update({key: t for key, t in seen_here.items() if t == oldest})
                return {"lower": lower, "upper": oldest, "skip": skip}

    async def _search(self, lower: int | None, upper: int | None, page: int) -> dict[str, Any]:
        self._requests_left -= 1
        params: dict[str, Any] = {
            "query": self.query,
            "tags": self.tags,
            "hitsPerPage": self.hits_per_page,
            "page": page,
        }
        filters = []
        if lower is not None:
            filters.append(f"created_at_i>={lower}")
        if upper is not None:
            filters.append(f"created_at_i<={upper}")
        if filters:
            params["numericFilters"] = ",".join(filters)
        data, _ = await self.get_json(f"{self.url}/search_by_date", params=params)
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            raise SourceError(f"{self.name}: unexpected answer from Algolia (no hits list)")
        return data

    def _collect(self, data: dict[str, Any], found: dict[str, dict[str, Any]]) -> list[Any]:
        hits = [
            hit
            for hit in data["hits"]
            if isinstance(hit, dict) and hit.get("objectID") is not None and _time(hit) >= 0
        ]
        for hit in hits:
            found[str(hit["objectID"])] = hit
        return hits

    def _mention(self, hit: dict[str, Any]) -> dict[str, Any]:
        object_id = str(hit["objectID"])
        tags = hit.get("_tags") or []
        is_comment = "comment" in tags or (hit.get("comment_text") and not hit.get("title"))
        title = hit.get("title") or hit.get("story_title")
        if is_comment:
            text = html_to_text(hit.get("comment_text"))
        else:
            text = html_to_text(hit.get("story_text"))
            if not text:
                text = "\n".join(part for part in (title, hit.get("url")) if part)
        parent = hit.get("parent_id") if is_comment else None
        engagement = {
            name: hit[field]
            for name, field in (("points", "points"), ("replies", "num_comments"))
            if isinstance(hit.get(field), int)
        }
        record = self.record(
            external_id=object_id,
            created_at=_iso_time(hit),
            text=text or title or "",
            title=title,
            url=ITEM_URL + object_id,
            author=self._author(hit),
            lang=None,
            in_reply_to=str(parent) if parent is not None else None,
            raw=hit,
        )
        if engagement:
            record["engagement"] = engagement
        return record

    def _author(self, hit: dict[str, Any]) -> dict[str, Any]:
        # Algolia has no karma: `fetch` fills it in from HN's user API
        return {"handle": hit.get("author") or "[unknown]", "name": None, "followers": None}


def _author_id(mention: dict[str, Any]) -> str | None:
    author = mention["raw"].get("author")
    return author if isinstance(author, str) and author else None


def _time(hit: dict[str, Any]) -> int:
    value = hit.get("created_at_i")
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(parse_iso(str(hit.get("created_at"))).timestamp())
    except ValueError:
        return -1


def _iso_time(hit: dict[str, Any]) -> str:
    created = hit.get("created_at")
    if isinstance(created, str):
        try:
            return iso(parse_iso(created)) or ""
        except ValueError:
            pass
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_time(hit)))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


ADAPTER = HackerNewsAdapter
