"""A Discourse forum: its latest posts, or the posts matching a search.

`GET /posts.json` lists the newest posts; `?before=ID` gives the page of
posts with lower ids. A poll pages back until it reaches the newest id it
already has, so nothing in between is skipped. A poll reads at most
`max_pages` pages; what it could not reach is kept as a gap (an id range)
that later polls read first.

With `search=` the adapter listens to `/search.json?q=... order:latest`
instead; search results carry an excerpt (`blurb`), not the whole post.

A post's external id is `topic_id/post_number`, so a reply's `in_reply_to` is
exact: `reply_to_post_number` when the API gives it, else the topic's first
post (`topic_id/1`). Discourse has no followers: `followers` is None.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urljoin

from inboxtui.sources.base import (
    ConfigError,
    FetchResult,
    ReplyRequest,
    ReplyResult,
    SourceAdapter,
    SourceError,
    rate_remaining,
    retry_after_seconds,
)
from inboxtui.sources.htmltext import html_to_text
from inboxtui.timeutil import iso, parse_iso, utcnow

MAX_PAGES = 10
REGULAR, MODERATOR_ACTION = 1, 2  # post types worth hearing (3 small action, 4 whisper)


class DiscourseAdapter(SourceAdapter):
    kind = "discourse"
    default_url = None
    can_reply = True
    options_help = {
        "url": "the forum's base URL, e.g. https://forum.example.com (required)",
        "search": "listen only to posts matching this Discourse search (optional)",
        "api_username": "user the API key acts as (needed to reply)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.search = (self.options.get("search") or "").strip()
        self.max_pages = MAX_PAGES
        self._remaining: int | None = None
        self._reset_after: float | None = None
        self._topics: dict[Any, dict[str, Any]] = {}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.secret:
            headers["Api-Key"] = self.secret
            headers["Api-Username"] = self.options.get("api_username") or "system"
        return headers

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        cursor = cursor or {}
        self._pages_left = self.max_pages
        self._topics: dict[Any, dict[str, Any]] = {}  # search results name topics apart
        notes: list[str] = []
        if self.search:
            posts, next_cursor = await self._fetch_search(cursor, notes)
        else:
            posts, next_cursor = await self._fetch_latest(cursor)
            if next_cursor.get("gap"):
                notes.append("more posts than one poll reads: older ones follow in later polls")
        posts.sort(key=lambda post: post["id"])
        return FetchResult(
            mentions=[self._mention(post) for post in posts if _worth_hearing(post)],
            cursor=next_cursor,
            rate_remaining=self._remaining,
            rate_reset_after=self._reset_after,
            notes=notes,
        )

    async def _fetch_latest(
        self, cursor: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        last_id = cursor.get("last_id")
        if last_id is None:
            # first poll: the newest page; listening starts now, the archive is not imported
            posts = await self._latest_page(None)
            return posts, {"last_id": max((p["id"] for p in posts), default=0)}
        found: dict[int, dict[str, Any]] = {}
        gap = cursor.get("gap")
        if gap:
            gap = await self._page_back(int(gap["before"]), int(gap["floor"]), found)
        newest = int(last_id)
        if not gap and self._pages_left > 0:
            fresh: dict[int, dict[str, Any]] = {}
            gap = await self._page_back(None, int(last_id), fresh)
            found.update(fresh)
            newest = max([newest, *fresh])
        next_cursor: dict[str, Any] = {"last_id": newest}
        if gap:
            next_cursor["gap"] = gap
        return list(found.values()), next_cursor

    async def _page_back(
        self, before: int | None, floor: int, found: dict[int, dict[str, Any]]
    ) -> dict[str, int] | None:
        """Posts with floor < id < before (None: the newest); the range left unread, if any."""
        while True:
            page = await self._latest_page(before)
            lowest = min((post["id"] for post in page), default=floor)
            found.update({post["id"]: post for post in page if post["id"] > floor})
            if not page or lowest <= floor + 1:
                return None
            if before is not None and lowest >= before:
                raise SourceError(f"{self.name}: the forum ignored before={before}; stopping")
            before = lowest
            if self._pages_left <= 0:
                return {"before": before, "floor": floor}

    async def _latest_page(self, before: int | None) -> list[dict[str, Any]]:
        self._pages_left -= 1
        params = {"before": before} if before is not None else None
        data = await self._get_json("/posts.json", params)
        posts = data.get("latest_posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise SourceError(f"{self.name}: unexpected answer from /posts.json (no latest_posts)")
        return [
            post for post in posts if isinstance(post, dict) and isinstance(post.get("id"), int)
        ]

    async def _fetch_search(
        self, cursor: dict[str, Any], notes: list[str]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        last_id = cursor.get("last_id")
        found: dict[int, dict[str, Any]] = {}
        page = 1
        while self._pages_left > 0:
            self._pages_left -= 1
            data = await self._get_json(
                "/search.json", {"q": f"{self.search} order:latest", "page": page}
            )
            if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
                raise SourceError(f"{self.name}: unexpected answer from /search.json")
            topics = {
                topic.get("id"): topic
                for topic in data.get("topics") or []
                if isinstance(topic, dict)
            }
            posts = [
                p for p in data["posts"] if isinstance(p, dict) and isinstance(p.get("id"), int)
            ]
            self._topics.update(topics)
            for post in posts:
                if last_id is None or post["id"] > int(last_id):
                    found[post["id"]] = post
            more = (data.get("grouped_search_result") or {}).get("more_full_page_results")
            reached = last_id is None or any(post["id"] <= int(last_id) for post in posts)
            if not posts or reached or not more:
                break
            page += 1
        else:
            notes.append("search has more new results than one poll reads; some may be missed")
        newest = max([int(last_id or 0), *found])
        return list(found.values()), {"last_id": newest}

    async def _get_json(self, path: str, params: dict[str, Any] | None) -> Any:
        data, response = await self.get_json(
            f"{self.url}{path}", params=params, headers=self._headers()
        )
        remaining = rate_remaining(response)
        if remaining is not None:
            self._remaining = remaining
            self._reset_after = retry_after_seconds(response)
        return data

    def _mention(self, post: dict[str, Any]) -> dict[str, Any]:
        topic_id, number = post.get("topic_id"), _int(post.get("post_number")) or 1
        parent = _int(post.get("reply_to_post_number"))
        if number == 1:
            in_reply_to = None
        else:
            in_reply_to = f"{topic_id}/{parent if parent and parent != number else 1}"
        text = html_to_text(post.get("cooked")) or str(post.get("raw") or "")
        if not text:
            text = html_to_text(post.get("blurb"))
        record = self.record(
            external_id=f"{topic_id}/{number}",
            created_at=_iso(post.get("created_at")),
            text=text,
            title=post.get("topic_title") or self._topic(post).get("title") or None,
            url=self._post_url(post, topic_id, number),
            author={
                "handle": post.get("username") or "unknown",
                "name": post.get("name") or post.get("display_username") or None,
                "followers": None,
            },
            lang=None,
            in_reply_to=in_reply_to,
            raw=post,
        )
        engagement = {}
        if isinstance(post.get("reply_count"), int):
            engagement["replies"] = post["reply_count"]
        likes = post.get("like_count")
        if not isinstance(likes, int):
            likes = next(
                (
                    action.get("count")
                    for action in post.get("actions_summary") or []
                    if isinstance(action, dict) and action.get("id") == 2
                ),
                None,
            )
        if isinstance(likes, int):
            engagement["likes"] = likes
        if engagement:
            record["engagement"] = engagement
        if (_int(post.get("version")) or 1) > 1:  # version 1 is the post as first written
            with contextlib.suppress(ValueError):
                record["edited_at"] = iso(parse_iso(str(post.get("updated_at"))))
        return record

    def _topic(self, post: dict[str, Any]) -> dict[str, Any]:
        return self._topics.get(post.get("topic_id")) or {}

    def _post_url(self, post: dict[str, Any], topic_id: Any, number: int) -> str:
        if isinstance(post.get("post_url"), str):
            return urljoin(self.url + "/", post["post_url"])
        slug = post.get("topic_slug") or self._topic(post).get("slug") or "-"
        return f"{self.url}/t/{slug}/{topic_id}/{number}"

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        """Post into the topic, as a reply to the post (Discourse has no idempotency key)."""
        if not self.secret:
            raise ConfigError(
                f"source {self.name!r}: replying needs an API key: inboxtui secret set"
            )
        topic_id, _, number = request.in_reply_to_external_id.partition("/")
        if not topic_id.isdigit() or not number.isdigit():
            raise SourceError(
                f"{self.name}: {request.in_reply_to_external_id!r} is not a topic/post number",
                transient=False,
            )
        payload: dict[str, Any] = {"raw": request.body, "topic_id": int(topic_id)}
        if int(number) > 1:
            payload["reply_to_post_number"] = int(number)
        response = await self.request(
            "POST", f"{self.url}/posts.json", json=payload, headers=self._headers()
        )
        try:
            created = response.json()
        except ValueError:
            created = None
        if not isinstance(created, dict) or "post_number" not in created:
            raise SourceError(f"{self.name}: the forum answered without a post")
        created_topic = created.get("topic_id") or topic_id
        remote = f"{created_topic}/{created['post_number']}"
        return ReplyResult(
            remote_id=remote,
            remote_url=self._post_url(created, created_topic, created["post_number"]),
        )


def _worth_hearing(post: dict[str, Any]) -> bool:
    if post.get("deleted_at") or post.get("user_deleted"):
        return False
    return post.get("post_type", REGULAR) in (REGULAR, MODERATOR_ACTION)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> str:
    try:
        return iso(parse_iso(str(value))) or ""
    except ValueError:
        return iso(utcnow()) or ""


ADAPTER = DiscourseAdapter
