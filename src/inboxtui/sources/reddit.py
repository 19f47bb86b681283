"""Reddit: a subreddit's new posts, new comments or search, read with an app-only token.

Listings page forward with `before=<newest fullname seen>`: Reddit answers
with the items immediately newer than that anchor, so following it page by
page misses nothing. If the anchor is deleted or removed, Reddit answers an
empty page forever; every `recheck` seconds an empty answer is therefore
checked against the plain newest page (deduplicated on fullnames), which also
moves the anchor to a live post.

Reading uses app-only OAuth (`client_credentials`), with the token kept and
reused until shortly before it expires. Replying needs a user: a "script" app
whose secret is JSON holding the client secret and the account's password
(`{"client_secret": "...", "password": "..."}`) plus the `username=` option.
Reddit has no idempotency key, so before posting the adapter looks at the
account's newest comments for the same reply to the same parent.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from inboxtui.sources.base import (
    ConfigError,
    FetchResult,
    ReplyRequest,
    ReplyResult,
    SourceAdapter,
    SourceError,
    raise_for_status,
)
from inboxtui.timeutil import iso

DEFAULT_AUTH_URL = "https://www.reddit.com/api/v1/access_token"
WEB_URL = "https://www.reddit.com"
PAGE_SIZE = 100  # Reddit's maximum listing size
MAX_RECENT = 100
CLOCK_SLOP = 120.0  # seconds: our clock against Reddit's created_utc
_FULLNAME = re.compile(r"^t[1-6]_[0-9a-z]+$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_+]{2,200}$")
_ERROR_NAME = re.compile(r"^[A-Za-z_]{1,64}$")
_WAIT = re.compile(r"(\d+)\s*(second|minute)", re.IGNORECASE)


class RedditAdapter(SourceAdapter):
    kind = "reddit"
    default_url = "https://oauth.reddit.com"
    can_reply = True
    options_help = {
        "subreddit": "subreddit name, or several joined with + (required)",
        "listen": "new, comments, search:QUERY; several separated by commas (default: new)",
        "client_id": "the app's client id (or put client_id in a JSON secret)",
        "username": "account that sends replies (script app; secret JSON holds its password)",
        "url": "API base (default https://oauth.reddit.com)",
        "auth_url": f"token endpoint (default {DEFAULT_AUTH_URL})",
        "max_pages": "requests per stream per poll (default 5)",
        "recheck": "seconds between checks that the anchor post still exists (default 900)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        subreddit = (self.options.get("subreddit") or "").strip().removeprefix("r/")
        if not _SUBREDDIT.match(subreddit):
            raise ConfigError(f"source {self.name!r}: option subreddit= is required (e.g. acme)")
        self.subreddit = subreddit
        self.auth_url = (self.options.get("auth_url") or DEFAULT_AUTH_URL).strip()
        listen = self.options.get("listen") or "new"
        self.streams = list(
            dict.fromkeys(part.strip() for part in re.split(r"[,|]", listen) if part.strip())
        )
        for stream in self.streams:
            kind, _, arg = stream.partition(":")
            if stream not in ("new", "comments") and (kind != "search" or not arg.strip()):
                raise ConfigError(
                    f"source {self.name!r}: listen={stream!r} is not new, comments or search:QUERY"
                )
        self.max_pages = int(self.number_option("max_pages", 5, low=1, whole=True))
        self.recheck = self.number_option("recheck", 900, whole=True)
        self.username = (self.options.get("username") or "").strip().removeprefix("u/") or None
        self._tokens: dict[str, tuple[str, float]] = {}

    # -- credentials and HTTP ------------------------------------------------------

    def _credentials(self) -> tuple[str, str, str | None]:
        """(client id, client secret, password) from the options and the secret."""
        client_id = self.options.get("client_id")
        client_secret = self.secret or ""
        password = None
        if client_secret.lstrip().startswith("{"):
            try:
                parsed = json.loads(client_secret)
            except ValueError:
                raise ConfigError(f"source {self.name!r}: the secret is not valid JSON") from None
            if not isinstance(parsed, dict):
                raise ConfigError(f"source {self.name!r}: the secret JSON must be an object")
            client_id = client_id or parsed.get("client_id")
            client_secret = str(parsed.get("client_secret") or "")
            password = parsed.get("password") if isinstance(parsed.get("password"), str) else None
        if not client_id or not client_secret:
            raise ConfigError(
                f"source {self.name!r}: needs client_id= and the app's secret "
                f"(`inboxtui secret set {self.name}`)"
            )
        return str(client_id), client_secret, password

    async def _token(self, user: bool) -> str:
        kind = "user" if user else "app"
        cached = self._tokens.get(kind)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        client_id, client_secret, password = self._credentials()
        if user:
            if not self.username or not password:
                raise ConfigError(
                    f"source {self.name!r}: replying needs username= and a JSON secret with "
                    '"client_secret" and "password" (a Reddit script app)'
                )
            grant = {"grant_type": "password", "username": self.username, "password": password}
        else:
            grant = {"grant_type": "client_credentials"}
        response = await self.send(
            "POST", self.auth_url, data=grant, auth=(client_id, client_secret)
        )
        if response.status_code == 401:
            raise ConfigError(f"source {self.name!r}: Reddit refused the client id or secret")
        raise_for_status(self.name, response)
        data = self.decode(response)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            error = data.get("error") if isinstance(data, dict) else None
            reason = error if isinstance(error, str) and _ERROR_NAME.match(error) else "no token"
            raise ConfigError(f"source {self.name!r}: Reddit gave no access token ({reason})")
        lifetime = data.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._tokens[kind] = (token, time.monotonic() + max(30.0, lifetime - 60.0))
        return token

    async def _api(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        user: bool = False,
    ) -> Any:
        """One API call with a bearer token; a 401 drops the token and retries once."""
        for attempt in range(2):
            token = await self._token(user)
            response = await self.send(
                method,
                self.url + path,
                params=params,
                data=data,
                headers={"Authorization": f"bearer {token}"},
            )
            if response.status_code == 401 and attempt == 0:
                self._tokens.pop("user" if user else "app", None)
                continue
            break
        raise_for_status(self.name, response)
        return self.decode(response)

    # -- listening ----------------------------------------------------------------

    def _endpoint(self, stream: str) -> tuple[str, dict[str, Any]]:
        base = f"/r/{quote(self.subreddit, safe='+')}"
        params: dict[str, Any] = {"limit": PAGE_SIZE, "raw_json": 1}
        if stream == "new":
            return f"{base}/new", params
        if stream == "comments":
            return f"{base}/comments", params
        query = stream.partition(":")[2].strip()
        params.update({"q": query, "sort": "new", "restrict_sr": 1, "t": "all"})
        return f"{base}/search", params

    async def _page(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = await self._api("GET", path, params=params)
        data = body.get("data") if isinstance(body, dict) else None
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            raise SourceError(f"{self.name}: {path} did not answer with a listing")
        things = [c.get("data") for c in children if isinstance(c, dict)]
        return [
            t
            for t in things
            if isinstance(t, dict) and isinstance(t.get("name"), str) and _FULLNAME.match(t["name"])
        ]

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        self.rate = None
        states = dict((cursor or {}).get("streams") or {})
        found: dict[str, dict[str, Any]] = {}
        for stream in self.streams:
            things, states[stream] = await self._poll_stream(stream, states.get(stream) or {})
            for thing in things:
                record = self._record(thing)
                if record is not None:
                    found.setdefault(record["external_id"], record)
        mentions = sorted(found.values(), key=lambda r: (_age(r["raw"]), r["external_id"]))
        remaining, reset = self.rate_figures()
        return FetchResult(
            mentions=mentions,
            cursor={"streams": states},
            rate_remaining=remaining,
            rate_reset_after=reset,
        )

    async def _poll_stream(
        self, stream: str, state: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        path, base = self._endpoint(stream)
        before = state.get("before")
        recent = [r for r in state.get("recent") or [] if isinstance(r, str)]
        floor = state.get("newest_utc")
        checked = float(state.get("checked") or 0)
        newest_name: str | None = None
        collected: list[dict[str, Any]] = []
        if floor is None:
            # first poll: start from the newest page, not the subreddit's history
            collected = await self._page(path, base)
            newest_name = collected[0]["name"] if collected else None
            # Reddit's clock where we have it, ours (with some slack) where we do not
            floor = max(map(_age, collected)) if collected else time.time() - CLOCK_SLOP
            checked = time.time()
        elif before is None:
            # nothing seen yet: everything newer than the first poll is new
            collected, newest_name = await self._recover(path, base, recent, float(floor))
        else:
            params = {**base, "before": before}
            for _ in range(self.max_pages):
                page = await self._page(path, params)
                if not page:
                    break
                collected.extend(page)
                newest_name = page[0]["name"]
                params["before"] = newest_name
            now = time.time()
            if collected:
                checked = now  # the anchor is alive
            elif now - checked >= self.recheck:
                checked = now
                collected, newest_name = await self._recover(path, base, recent, float(floor))
        new_names = [t["name"] for t in sorted(collected, key=_age, reverse=True)]
        state = {
            "before": newest_name or before,
            "recent": list(dict.fromkeys(new_names + recent))[:MAX_RECENT],
            "newest_utc": max([float(floor), *(_age(t) for t in collected)]),
            "checked": checked,
        }
        return collected, state

    async def _recover(
        self, path: str, base: dict[str, Any], recent: list[str], floor: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Unseen items newer than `floor`, read without the anchor (which may be gone)."""
        known = set(recent)
        fresh: list[dict[str, Any]] = []
        params = dict(base)
        newest: str | None = None
        for _ in range(self.max_pages):
            page = await self._page(path, params)
            if newest is None and page:
                newest = page[0]["name"]
            unseen = [t for t in page if t["name"] not in known and _age(t) >= floor]
            fresh.extend(unseen)
            if not page or len(unseen) < len(page):
                break
            params["after"] = page[-1]["name"]
        return fresh, newest

    def _record(self, thing: dict[str, Any]) -> dict[str, Any] | None:
        created = thing.get("created_utc")
        if not isinstance(created, int | float):
            return None
        name = thing["name"]
        permalink = thing.get("permalink")
        url = f"{WEB_URL}{permalink}" if isinstance(permalink, str) else None
        author = str(thing.get("author") or "[deleted]")
        if name.startswith("t1_"):
            text = str(thing.get("body") or "")
            title = thing.get("link_title")
            parent = thing.get("parent_id")
            in_reply_to = parent if isinstance(parent, str) and _FULLNAME.match(parent) else None
        else:
            title = thing.get("title")
            text = str(title or "")
            selftext = str(thing.get("selftext") or "")
            link = thing.get("url")
            if selftext:
                text = f"{text}\n\n{selftext}"
            elif not thing.get("is_self") and isinstance(link, str) and link != url:
                text = f"{text}\n\n{link}"
            in_reply_to = None
        return self.record(
            external_id=name,
            created_at=iso(datetime.fromtimestamp(created, UTC)),
            text=text,
            url=url,
            title=title if isinstance(title, str) else None,
            author={"handle": f"u/{author}", "name": author, "followers": None},
            lang=None,
            in_reply_to=in_reply_to,
            raw=thing,
            engagement={
                "replies": thing.get("num_comments"),
                "likes": None,
                "boosts": None,
                "points": thing.get("score"),
            },
        )

    # -- replying -----------------------------------------------------------------

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        """POST /api/comment as the configured user; an identical earlier reply is reused."""
        thing_id = request.in_reply_to_external_id
        if not _FULLNAME.match(thing_id):
            raise SourceError(
                f"{self.name}: {thing_id!r} is not a Reddit fullname (t1_/t3_)", transient=False
            )
        existing = await self._own_reply(thing_id, request.body)
        if existing is not None:
            return existing
        body = await self._api(
            "POST",
            "/api/comment",
            data={"api_type": "json", "thing_id": thing_id, "text": request.body},
            user=True,
        )
        result = body.get("json") if isinstance(body, dict) else None
        errors = result.get("errors") if isinstance(result, dict) else None
        if errors:
            raise _comment_error(self.name, errors)
        things = (result.get("data") or {}).get("things") if isinstance(result, dict) else None
        thing = things[0].get("data") if isinstance(things, list) and things else None
        if not isinstance(thing, dict) or not isinstance(thing.get("name"), str):
            raise SourceError(f"{self.name}: Reddit did not return the new comment")
        return self._reply_result(thing)

    async def _own_reply(self, thing_id: str, text: str) -> ReplyResult | None:
        """The account's own recent comment with this parent and text, if a retry finds one."""
        await self._token(user=True)  # fails clearly when replies are not configured
        body = await self._api(
            "GET",
            f"/user/{quote(self.username or '')}/comments",
            params={"limit": 25, "sort": "new", "raw_json": 1},
            user=True,
        )
        data = body.get("data") if isinstance(body, dict) else None
        for child in (data or {}).get("children") or []:
            thing = child.get("data") if isinstance(child, dict) else None
            if (
                isinstance(thing, dict)
                and thing.get("parent_id") == thing_id
                and str(thing.get("body") or "").strip() == text.strip()
                and isinstance(thing.get("name"), str)
            ):
                return self._reply_result(thing)
        return None

    def _reply_result(self, thing: dict[str, Any]) -> ReplyResult:
        permalink = thing.get("permalink")
        url = f"{WEB_URL}{permalink}" if isinstance(permalink, str) else None
        return ReplyResult(remote_id=thing["name"], remote_url=url)


def _comment_error(name: str, errors: list[Any]) -> SourceError:
    """Reddit's `[[CODE, message, field], ...]` as a SourceError (RATELIMIT is transient)."""
    first = errors[0] if isinstance(errors[0], list) and errors[0] else ["UNKNOWN"]
    code = first[0] if isinstance(first[0], str) and _ERROR_NAME.match(first[0]) else "UNKNOWN"
    if code == "RATELIMIT":
        message = str(first[1]) if len(first) > 1 else ""
        match = _WAIT.search(message)
        wait = None
        if match:
            wait = float(match.group(1)) * (60 if match.group(2).lower() == "minute" else 1)
        return SourceError(f"{name}: Reddit asks to wait before commenting", retry_after=wait)
    return SourceError(f"{name}: Reddit refused the comment ({code})", transient=False)


def _age(thing: dict[str, Any]) -> float:
    created = thing.get("created_utc")
    return float(created) if isinstance(created, int | float) else 0.0


ADAPTER = RedditAdapter
