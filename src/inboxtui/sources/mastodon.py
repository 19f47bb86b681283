"""Mastodon: mentions, hashtag timelines and keyword search on one instance.

Paging uses the server's own cursors: a poll asks for `min_id=<cursor>` (the
page immediately newer than what we have) and follows `Link: rel="prev"` until
a page comes back empty, so nothing between two polls is skipped however many
posts arrived. Ids are opaque strings; they are only ordered (as snowflakes:
shorter is older) where the server gives no Link header to follow.

Replies carry an `Idempotency-Key` header: Mastodon answers a repeated key
with the status it already created, so a retried send cannot post twice.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from inboxtui.sources.base import (
    ConfigError,
    FetchResult,
    ReplyRequest,
    ReplyResult,
    SourceAdapter,
    SourceError,
    raise_for_status,
)
from inboxtui.sources.htmltext import html_to_text
from inboxtui.timeutil import iso, parse_iso

DEFAULT_PAGE_SIZE = 40  # Mastodon's maximum for notifications and timelines
DEFAULT_MAX_PAGES = 10

_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def parse_link_header(value: str | None) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="prev"` -> {"next": url, "prev": url}."""
    links: dict[str, str] = {}
    for match in _LINK_PART.finditer(value or ""):
        url, params = match.groups()
        for param in params.split(";"):
            key, _, raw = param.strip().partition("=")
            if key.strip().lower() == "rel":
                for rel in raw.strip().strip('"').split():
                    links.setdefault(rel.lower(), url)
    return links


def id_order(value: str) -> tuple[int, str]:
    """Sort key for snowflake-like ids: a shorter id is older; same length sorts as text."""
    return (len(value), value)


def reset_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds until X-RateLimit-Reset (Mastodon sends an ISO time; some servers epoch)."""
    value = response.headers.get("x-ratelimit-reset")
    if not value:
        return None
    now = time.time() if now is None else now
    try:
        return max(0.0, parse_iso(value).timestamp() - now)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)


def parse_listen(value: str | None, default: str) -> list[str]:
    """`mentions,hashtag:acme|search:acme` -> ["mentions", "hashtag:acme", "search:acme"]."""
    items = [part.strip() for part in re.split(r"[,|]", value or default)]
    return list(dict.fromkeys(item for item in items if item))


class MastodonAdapter(SourceAdapter):
    kind = "mastodon"
    default_url = None
    can_reply = True
    options_help = {
        "url": "instance base URL, e.g. https://mastodon.social (required)",
        "listen": "mentions, hashtag:TAG, search:WORDS; several separated by commas "
        "(default: mentions)",
        "page_size": f"items per request (default {DEFAULT_PAGE_SIZE}, max 40)",
        "max_pages": f"requests per stream per poll (default {DEFAULT_MAX_PAGES})",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streams = parse_listen(self.options.get("listen"), "mentions")
        for stream in self.streams:
            kind, _, arg = stream.partition(":")
            if stream != "mentions" and (kind not in ("hashtag", "search") or not arg.strip()):
                raise ConfigError(
                    f"source {self.name!r}: listen={stream!r} is not one of "
                    "mentions, hashtag:TAG, search:WORDS"
                )
            if kind in ("mentions", "search") and not self.secret:
                raise ConfigError(
                    f"source {self.name!r}: listening to {kind} needs an access token; "
                    f"store one with `inboxtui secret set {self.name}`"
                )
        option = self.number_option
        self.page_size = int(option("page_size", DEFAULT_PAGE_SIZE, low=1, high=40, whole=True))
        self.max_pages = int(
            self.number_option("max_pages", DEFAULT_MAX_PAGES, low=1, high=1000, whole=True)
        )
        self.host = urlsplit(self.url).hostname or ""

    # -- HTTP -----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"} if self.secret else {}

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Like the base request, but a refusal's wait comes from Mastodon's ISO reset time."""
        response = await self.send(method, url, **kwargs)
        try:
            raise_for_status(self.name, response)
        except SourceError as exc:
            if exc.transient and exc.retry_after is None:
                exc.retry_after = reset_after(response)
            raise
        return response

    def rate_reset(self, response: httpx.Response) -> float | None:
        return reset_after(response)

    # -- listening --------------------------------------------------------------

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        self.rate = None
        positions = dict((cursor or {}).get("streams") or {})
        mentions: list[dict[str, Any]] = []
        seen: set[str] = set()
        for stream in self.streams:
            statuses, positions[stream] = await self._poll_stream(stream, positions.get(stream))
            for status in statuses:
                record = self._record(status)
                if record and record["external_id"] not in seen:
                    seen.add(record["external_id"])
                    mentions.append(record)
        mentions.sort(key=lambda m: (parse_iso(m["created_at"]), id_order(m["external_id"])))
        remaining, reset = self.rate_figures()
        return FetchResult(
            mentions=mentions,
            cursor={"streams": positions},
            rate_remaining=remaining,
            rate_reset_after=reset,
        )

    async def _poll_stream(
        self, stream: str, position: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kind, _, arg = stream.partition(":")
        if kind == "search":
            return await self._poll_search(arg.strip(), position)
        if kind == "hashtag":
            path = f"/api/v1/timelines/tag/{quote(arg.strip().lstrip('#'), safe='')}"
            params: dict[str, Any] = {"limit": self.page_size}
        else:
            path = "/api/v1/notifications"
            params = {"types[]": "mention", "limit": self.page_size}
        items, position = await self._follow_prev(self.url + path, params, position)
        if kind == "mentions":
            statuses = [
                n["status"] for n in items if n.get("type") == "mention" and n.get("status")
            ]
        else:
            statuses = items
        return statuses, position

    async def _follow_prev(
        self, url: str, base: dict[str, Any], position: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Pages newer than `position`, oldest page first, and the new position.

        First poll (no position): only the newest page, so a new source starts
        from now instead of replaying an account's whole history.
        """
        first_poll = position is None
        params = dict(base)
        if not first_poll:
            params["min_id"] = position
        collected: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            response = await self.request("GET", url, params=params, headers=self._headers())
            page = self.decode(response)
            if not isinstance(page, list):
                raise SourceError(f"{self.name}: expected a list from {urlsplit(url).path}")
            items = [item for item in page if isinstance(item, dict) and item.get("id")]
            if not items:
                break
            items.sort(key=lambda item: id_order(str(item["id"])))
            collected.extend(items)
            prev = parse_link_header(response.headers.get("link")).get("prev")
            prev_params = dict(parse_qsl(urlsplit(prev).query)) if prev else {}
            if "min_id" not in prev_params and "since_id" in prev_params:
                prev_params["min_id"] = prev_params["since_id"]
            prev_params.pop("since_id", None)
            prev_params.pop("max_id", None)
            previous, position = position, prev_params.get("min_id") or str(items[-1]["id"])
            if first_poll or not prev or position == previous:
                break
            # keep our own filters even where a server drops them from its Link header
            params = {**base, **prev_params}
        if position is None:
            position = "0"  # nothing yet: everything that arrives from now on is new
        return collected, position

    async def _poll_search(
        self, query: str, position: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Keyword search has no Link header: page by offset and keep ids above the cursor."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        for _ in range(self.max_pages):
            params: dict[str, Any] = {
                "q": query,
                "type": "statuses",
                "limit": self.page_size,
                "offset": offset,
            }
            if position is not None:
                params["min_id"] = position
            response = await self.request(
                "GET", f"{self.url}/api/v2/search", params=params, headers=self._headers()
            )
            body = self.decode(response)
            statuses = body.get("statuses") if isinstance(body, dict) else None
            if not isinstance(statuses, list):
                raise SourceError(f"{self.name}: search answered without a statuses list")
            fresh = [
                s
                for s in statuses
                if isinstance(s, dict)
                and s.get("id")
                and str(s["id"]) not in found
                and (position is None or id_order(str(s["id"])) > id_order(position))
            ]
            for status in fresh:
                found[str(status["id"])] = status
            if not fresh or len(statuses) < self.page_size or position is None:
                break
            offset += len(statuses)
        if found:
            newest = max(found, key=id_order)
            if position is None or id_order(newest) > id_order(position):
                position = newest
        return list(found.values()), position or "0"

    def _record(self, status: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(status.get("reblog"), dict):
            status = status["reblog"]
        account = status.get("account") if isinstance(status.get("account"), dict) else {}
        acct = str(account.get("acct") or account.get("username") or "unknown")
        if "@" not in acct and self.host:
            acct = f"{acct}@{self.host}"
        try:
            created = iso(parse_iso(str(status.get("created_at") or "")))
        except ValueError:
            return None
        text = html_to_text(status.get("content"))
        spoiler = str(status.get("spoiler_text") or "").strip()
        if spoiler:
            text = f"CW: {spoiler}\n\n{text}" if text else f"CW: {spoiler}"
        followers = account.get("followers_count")
        record = self.record(
            external_id=str(status["id"]),
            created_at=created,
            text=text,
            url=status.get("url") or status.get("uri"),
            title=None,
            author={
                "handle": f"@{acct}",
                "name": account.get("display_name") or account.get("username"),
                "followers": followers if isinstance(followers, int) else None,
            },
            lang=status.get("language"),
            in_reply_to=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
            raw=status,
            engagement={
                "replies": status.get("replies_count"),
                "likes": status.get("favourites_count"),
                "boosts": status.get("reblogs_count"),
                "points": None,
            },
        )
        if status.get("edited_at"):  # a Status's `edited_at`: null until its author edits it
            with contextlib.suppress(ValueError):
                record["edited_at"] = iso(parse_iso(str(status["edited_at"])))
        return record

    # -- replying ---------------------------------------------------------------

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        """POST /api/v1/statuses; the Idempotency-Key makes a retry return the same status."""
        if not self.secret:
            raise ConfigError(
                f"source {self.name!r}: replying needs an access token with write:statuses; "
                f"store one with `inboxtui secret set {self.name}`"
            )
        form = {"status": request.body, "in_reply_to_id": request.in_reply_to_external_id}
        for key in ("visibility", "spoiler_text", "language"):
            if request.context.get(key):
                form[key] = str(request.context[key])
        headers = {**self._headers(), "Idempotency-Key": request.idempotency_key}
        response = await self.request(
            "POST", f"{self.url}/api/v1/statuses", data=form, headers=headers
        )
        status = self.decode(response)
        if not isinstance(status, dict) or not status.get("id"):
            raise SourceError(f"{self.name}: the server did not return the new status")
        return ReplyResult(remote_id=str(status["id"]), remote_url=status.get("url"))


ADAPTER = MastodonAdapter
