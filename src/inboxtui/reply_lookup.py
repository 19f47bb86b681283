"""Finding a reply we may already have posted, on APIs without idempotency keys.

After an attempt that may have reached the server (a timeout, a cut
connection, a 5xx, a sender that died mid-send) the outbox asks here before
posting again. GitHub: our own comment on the issue with the same body since
the reply was queued. Discourse: a post by the API user in the topic, replying
to the same post, since the reply was queued (topics list posts as HTML, so
the body cannot be compared as typed). Mastodon (`Idempotency-Key`), Bluesky
(record key) and Reddit (its adapter checks its own comments before every
post) need nothing here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from inboxtui.sources.base import ReplyRequest, ReplyResult, SourceAdapter, decode_json
from inboxtui.timeutil import iso, parse_iso

# server clocks differ from ours: look a little before the reply was queued
CLOCK_SLACK = timedelta(minutes=5)


async def find_existing_reply(
    adapter: SourceAdapter, request: ReplyRequest, *, since: datetime
) -> ReplyResult | None:
    """Our earlier reply for `request`, if the source can tell and it exists."""
    if adapter.kind == "github":
        return await _github(adapter, request, since - CLOCK_SLACK)
    if adapter.kind == "discourse":
        return await _discourse(adapter, request, since - CLOCK_SLACK)
    return None


def _headers(adapter: SourceAdapter) -> dict[str, str]:
    headers = getattr(adapter, "_headers", None)
    return headers() if callable(headers) else {}


async def _github(
    adapter: SourceAdapter, request: ReplyRequest, since: datetime
) -> ReplyResult | None:
    from inboxtui.sources.github import _reply_target

    target = _reply_target(request)
    if target is None or not adapter.secret:
        return None
    headers = _headers(adapter)
    me = decode_json(await adapter.request("GET", f"{adapter.url}/user", headers=headers))
    login = me.get("login") if isinstance(me, dict) else None
    repo, number = target
    comments = decode_json(
        await adapter.request(
            "GET",
            f"{adapter.url}/repos/{repo}/issues/{number}/comments",
            params={"since": iso(since), "per_page": 100},
            headers=headers,
        )
    )
    for comment in comments if isinstance(comments, list) else []:
        if not isinstance(comment, dict):
            continue
        user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
        if user.get("login") == login and str(comment.get("body") or "").strip() == (
            request.body.strip()
        ):
            return ReplyResult(str(comment["id"]), comment.get("html_url"))
    return None


def _created(post: dict[str, Any]) -> datetime | None:
    try:
        return parse_iso(str(post.get("created_at")))
    except ValueError:
        return None


async def _discourse(
    adapter: SourceAdapter, request: ReplyRequest, since: datetime
) -> ReplyResult | None:
    topic_id, _, number = request.in_reply_to_external_id.partition("/")
    if not topic_id.isdigit() or not number.isdigit() or not adapter.secret:
        return None
    username = adapter.options.get("api_username") or "system"
    data = decode_json(
        await adapter.request(
            "GET",
            f"{adapter.url}/t/{topic_id}.json",
            params={"print": "true"},
            headers=_headers(adapter),
        )
    )
    stream = data.get("post_stream") if isinstance(data, dict) else None
    replying_to = int(number) if int(number) > 1 else None
    for post in (stream or {}).get("posts") or []:
        if not isinstance(post, dict) or post.get("username") != username:
            continue
        created = _created(post)
        if created is None or created < since:
            continue
        if post.get("reply_to_post_number") != replying_to:
            continue
        slug = data.get("slug") or "-"
        remote = f"{topic_id}/{post.get('post_number')}"
        return ReplyResult(remote, f"{adapter.url}/t/{slug}/{topic_id}/{post.get('post_number')}")
    return None


__all__ = ["CLOCK_SLACK", "find_existing_reply"]
