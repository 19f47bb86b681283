"""GitHub issue and pull-request comments in chosen repositories.

`GET /repos/{owner}/{repo}/issues/comments?sort=updated&direction=asc&since=`
lists comments oldest change first, so progress is a watermark on
`updated_at`. Timestamps have one-second resolution and a comment can land in
the second already read, so each poll asks from one second before the
watermark and skips the (id, updated_at) pairs it already has.

Pages: while the watermark can move forward, the next page is asked for by
`since` (keyset paging: a comment updated meanwhile cannot shift an unseen
one onto a page already read); when a whole page shares one second, the
`Link: rel="next"` page is followed. An unchanged first page costs a 304
(ETag), which GitHub does not count against the rate limit.

Limitations: an edited comment comes back (same external id, new
`updated_at`); the store keeps the first version. Issues and PRs themselves
are not listed: a comment's `in_reply_to` is its issue (`owner/repo#N`), the
thread root, which is not fetched. GitHub lists no follower counts;
`followers` stays None until profiles are fetched (see `_author`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from inboxtui.sources.base import (
    ConfigError,
    FetchResult,
    ReplyRequest,
    ReplyResult,
    SourceAdapter,
    SourceError,
    decode_json,
    rate_remaining,
    retry_after_seconds,
)
from inboxtui.timeutil import iso, parse_iso, parse_when, utcnow

PER_PAGE = 100
MAX_PAGES = 10  # per repository per poll; the watermark resumes where it stopped
DEFAULT_LOOKBACK = "1d"
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+$")
_ISSUE_API = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/?$")
_ISSUE_HTML = re.compile(r"^/([^/]+/[^/]+)/(?:issues|pull)/(\d+)")
_THREAD = re.compile(r"^([^/#\s]+/[^/#\s]+)#(\d+)$")
ONE_SECOND = timedelta(seconds=1)


class GitHubAdapter(SourceAdapter):
    kind = "github"
    default_url = "https://api.github.com"
    can_reply = True
    options_help = {
        "repos": "comma-separated owner/name repositories to listen to (required)",
        "since": f"how far back the first poll reaches (default {DEFAULT_LOOKBACK})",
        "url": "API base (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        repos = [r.strip() for r in (self.options.get("repos") or "").split(",") if r.strip()]
        if not repos:
            raise ConfigError(f"source {self.name!r}: option repos=owner/name[,...] is required")
        bad = [repo for repo in repos if not _REPO.match(repo)]
        if bad:
            raise ConfigError(f"source {self.name!r}: not an owner/name repository: {bad[0]!r}")
        self.repos = repos
        try:
            parse_when(self.options.get("since") or DEFAULT_LOOKBACK)
        except ValueError as exc:
            raise ConfigError(f"source {self.name!r}: since=: {exc}") from None
        self.per_page = PER_PAGE
        self.max_pages = MAX_PAGES
        self._remaining: int | None = None
        self._reset_after: float | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        return headers

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        states = dict((cursor or {}).get("repos", {}))
        mentions: list[dict[str, Any]] = []
        self._remaining: int | None = None
        self._reset_after: float | None = None
        for repo in self.repos:
            if self._remaining == 0:
                break  # out of quota: the other repositories wait for the reset
            comments, states[repo] = await self._fetch_repo(repo, states.get(repo) or {})
            mentions += [self._mention(comment) for comment in comments]
        mentions.sort(key=lambda m: m["raw"].get("updated_at") or m["created_at"])
        return FetchResult(
            mentions=mentions,
            cursor={"repos": {repo: states[repo] for repo in self.repos if repo in states}},
            rate_remaining=self._remaining,
            rate_reset_after=self._reset_after,
        )

    async def _fetch_repo(
        self, repo: str, state: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if state.get("since"):
            watermark = parse_iso(state["since"])
        else:
            lookback = parse_when(self.options.get("since") or DEFAULT_LOOKBACK)
            watermark = lookback.replace(microsecond=0)  # GitHub speaks whole seconds
        seen: dict[str, str] = dict(state.get("seen", {}))
        endpoint = f"{self.url}/repos/{repo}/issues/comments"
        since_q = iso(watermark - ONE_SECOND)
        url: str = endpoint
        params: dict[str, Any] | None = self._params(since_q)
        headers = self._headers()
        etag, etag_for = state.get("etag"), state.get("etag_for")
        if etag and etag_for == since_q:
            headers["If-None-Match"] = etag
        new: list[dict[str, Any]] = []
        for page in range(self.max_pages):
            response = await self._get(repo, url, params, headers)
            if response.status_code == 304:
                break
            items = decode_json(response)
            if not isinstance(items, list):
                raise SourceError(f"{self.name}: {repo}: expected a list of comments")
            if page == 0:
                etag, etag_for = response.headers.get("etag"), since_q
                headers.pop("If-None-Match", None)
            for item in items:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                key, updated = str(item["id"]), str(item.get("updated_at") or "")
                if seen.get(key) == updated:
                    continue
                seen[key] = updated
                new.append(item)
                watermark = max(watermark, _when(item, watermark))
            next_url = response.links.get("next", {}).get("url")
            if not items or not next_url or self._remaining == 0:
                break
            keyset = iso(_when(items[-1], watermark) - ONE_SECOND)
            if parse_iso(keyset) > parse_iso(since_q):
                since_q, url, params = keyset, endpoint, self._params(keyset)
            else:
                url, params = next_url, None
        floor = watermark - ONE_SECOND
        kept = {key: up for key, up in seen.items() if up and _parse(up, floor) >= floor}
        next_state: dict[str, Any] = {"since": iso(watermark), "seen": kept}
        if etag:
            next_state.update(etag=etag, etag_for=etag_for)
        return new, next_state

    def _params(self, since: str | None) -> dict[str, Any]:
        return {"sort": "updated", "direction": "asc", "since": since, "per_page": self.per_page}

    async def _get(
        self, repo: str, url: str, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> Any:
        try:
            response = await self.request("GET", url, params=params, headers=headers)
        except SourceError as exc:
            if exc.status in (404, 410):
                raise SourceError(
                    f"{self.name}: repository {repo} not found, or not visible with this token",
                    transient=False,
                    status=exc.status,
                ) from exc
            raise
        remaining = rate_remaining(response)
        if remaining is not None:
            self._remaining = remaining
            self._reset_after = retry_after_seconds(response)
        return response

    def _mention(self, comment: dict[str, Any]) -> dict[str, Any]:
        thread = _thread_of(comment)
        reactions = comment.get("reactions")
        record = self.record(
            external_id=str(comment["id"]),
            created_at=iso(_parse(comment.get("created_at"), utcnow())),
            text=comment.get("body") or "",
            title=None,
            url=comment.get("html_url"),
            author=self._author(comment.get("user") or {}),
            lang=None,
            in_reply_to=thread,
            raw=comment,
        )
        if isinstance(reactions, dict) and isinstance(reactions.get("total_count"), int):
            record["engagement"] = {"likes": reactions["total_count"]}
        return record

    def _author(self, user: dict[str, Any]) -> dict[str, Any]:
        # the listing has no follower count; a cached GET /users/{login} would fill it
        return {"handle": user.get("login") or "ghost", "name": None, "followers": None}

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        """Comment on the issue or PR the mention belongs to (no idempotency key on GitHub)."""
        if not self.secret:
            raise ConfigError(f"source {self.name!r}: replying needs a token: inboxtui secret set")
        target = _reply_target(request)
        if target is None:
            raise SourceError(
                f"{self.name}: cannot tell which issue {request.in_reply_to_external_id!r} is on",
                transient=False,
            )
        repo, number = target
        response = await self.request(
            "POST",
            f"{self.url}/repos/{repo}/issues/{number}/comments",
            json={"body": request.body},
            headers=self._headers(),
        )
        created = decode_json(response)
        if not isinstance(created, dict) or "id" not in created:
            raise SourceError(f"{self.name}: GitHub answered without a comment id")
        return ReplyResult(remote_id=str(created["id"]), remote_url=created.get("html_url"))


def _when(item: dict[str, Any], default: datetime) -> datetime:
    return _parse(item.get("updated_at"), default)


def _parse(value: Any, default: datetime) -> datetime:
    try:
        return parse_iso(str(value)) if value else default
    except ValueError:
        return default


def _thread_of(comment: dict[str, Any]) -> str | None:
    """`owner/repo#N` of the issue or PR a comment is on: the conversation's root."""
    match = _ISSUE_API.search(urlsplit(str(comment.get("issue_url") or "")).path)
    if match:
        return f"{match.group(1)}#{match.group(2)}"
    match = _ISSUE_HTML.match(urlsplit(str(comment.get("html_url") or "")).path)
    return f"{match.group(1)}#{match.group(2)}" if match else None


def _reply_target(request: ReplyRequest) -> tuple[str, int] | None:
    candidates = [request.in_reply_to_external_id, request.context.get("thread")]
    for candidate in candidates:
        match = _THREAD.match(str(candidate or ""))
        if match:
            return match.group(1), int(match.group(2))
    match = _ISSUE_HTML.match(urlsplit(request.in_reply_to_url or "").path)
    if match:
        return match.group(1), int(match.group(2))
    return None


ADAPTER = GitHubAdapter
