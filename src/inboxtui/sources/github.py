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

Edits: an edited comment comes back (same external id, new `updated_at`);
its record carries `edited_at` (= `updated_at`, when that differs from
`created_at`), so ingest replaces the stored text. Issues and PRs themselves
are not listed: a comment's `in_reply_to` is its issue (`owner/repo#N`), the
thread root, which is not fetched.

Reach: the listing has no follower counts, so each new author costs one
`GET /users/{login}` (`followers`), cached for `profile_ttl`, at most
`max_profiles` per poll and never while fewer than PROFILE_RESERVE (plus one
per repository) requests remain (see `inboxtui.sources.profiles`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

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
from inboxtui.sources.profiles import ReachCache, add_reach
from inboxtui.timeutil import iso, parse_iso, parse_when, utcnow

PER_PAGE = 100
MAX_PAGES = 10  # per repository per poll; the watermark resumes where it stopped
DEFAULT_LOOKBACK = "1d"
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+$")
_ISSUE_API = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/?$")
_ISSUE_HTML = re.compile(r"^/([^/]+/[^/]+)/(?:issues|pull)/(\d+)")
_THREAD = re.compile(r"^([^/#\s]+/[^/#\s]+)#(\d+)$")
ONE_SECOND = timedelta(seconds=1)
MAX_PROFILES = 30  # GET /users/{login} per poll, by default
PROFILE_RESERVE = 20  # requests always left for the listing (plus one per repository)


class GitHubAdapter(SourceAdapter):
    kind = "github"
    default_url = "https://api.github.com"
    can_reply = True
    options_help = {
        "repos": "comma-separated owner/name repositories to listen to (required)",
        "since": f"how far back the first poll reaches (default {DEFAULT_LOOKBACK})",
        "url": "API base (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)",
        "profile_ttl": "seconds an author's follower count is cached (default 21600)",
        "max_profiles": f"author profiles looked up per poll (default {MAX_PROFILES}; 0: none)",
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
        self.max_profiles = int(self.number_option("max_profiles", MAX_PROFILES, whole=True))
        self._profiles = ReachCache(self.number_option("profile_ttl", 6 * 3600))

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
        notes: list[str] = []
        await add_reach(
            mentions,
            _login,
            self._profiles,
            self._followers,
            notes=notes,
            max_requests=self.max_profiles,
            quota=lambda: self._remaining,
            reserve=PROFILE_RESERVE + len(self.repos),
        )
        return FetchResult(
            mentions=mentions,
            cursor={"repos": {repo: states[repo] for repo in self.repos if repo in states}},
            rate_remaining=self._remaining,
            rate_reset_after=self._reset_after,
            notes=notes,
        )

    async def _followers(self, logins: list[str]) -> dict[str, int | None]:
        """`followers` of each user (`GET /users/{login}`); a missing user has None."""
        found: dict[str, int | None] = {}
        for login in logins:
            url = f"{self.url}/users/{quote(login, safe='')}"
            try:
                response = await self.request("GET", url, headers=self._headers())
            except SourceError as exc:
                if exc.status in (429, 403) and exc.transient:
                    self._remaining = 0  # the listing would be refused too: tell the poller
                    self._reset_after = exc.retry_after
                if exc.status in (404, 410):
                    found[login] = None
                    continue
                raise
            self._track(response)
            user = self.decode(response)
            count = user.get("followers") if isinstance(user, dict) else None
            found[login] = count if isinstance(count, int) and count >= 0 else None
        return found

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
        self._track(response)
        return response

    def _track(self, response: Any) -> None:
        """Remember the quota GitHub reports, so paging and lookups stop before a 429."""
        remaining = rate_remaining(response)
        if remaining is not None:
            self._remaining = remaining
            self._reset_after = retry_after_seconds(response)

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
        created = _parse(comment.get("created_at"), utcnow())
        if _when(comment, created) > created:  # GitHub's sign of an edit
            record["edited_at"] = iso(_when(comment, created))
        if isinstance(reactions, dict) and isinstance(reactions.get("total_count"), int):
            record["engagement"] = {"likes": reactions["total_count"]}
        return record

    def _author(self, user: dict[str, Any]) -> dict[str, Any]:
        # the listing has no follower count: `fetch` fills it from GET /users/{login}
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


def _login(mention: dict[str, Any]) -> str | None:
    user = mention["raw"].get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) and login else None


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
