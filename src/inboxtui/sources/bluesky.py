"""Bluesky (AT Protocol): post search and the account's mention/reply/quote notifications.

Neither listing can be asked for "everything after X", only for pages newest
first. A stream therefore keeps a watermark (the newest `sortAt` seen), asks
again from a little before it (`overlap`, because search indexing lags) and
drops the uris it already returned. When a burst is longer than one poll's
page budget, the unread stretch is remembered as a gap and read on the next
polls, so a busy hour is never skipped.

Sessions live in the adapter instance (never in the cursor, which is stored in
the database): `createSession` once, then `refreshSession` with the refresh
token when the access token expires. Keep one adapter per source alive between
polls to benefit.

Replies use a client-chosen record key (a TID whose clock bits come from the
idempotency key and whose time comes from when the reply was queued), so a
retry targets the same record: if the first attempt landed, the second create
fails and `getRecord` finds the post, which counts as success.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from inboxtui.sources.profiles import ReachCache, add_reach
from inboxtui.timeutil import iso, parse_iso, utcnow

PUBLIC_APPVIEW = "https://public.api.bsky.app"
POST_COLLECTION = "app.bsky.feed.post"
NOTIFICATION_REASONS = ("mention", "reply", "quote")
PROFILE_BATCH = 25  # app.bsky.actor.getProfiles accepts at most 25 actors
MAX_PROFILE_BATCHES = 8  # per poll: reach is nice to have, the mentions are not optional
MAX_SEEN = 2000
MAX_GAPS = 50
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_ERROR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_REFRESH_MARGIN = 60.0  # refresh an access token this long before its `exp`

Page = tuple[list[tuple[datetime, dict[str, Any]]], str | None]


@dataclass
class _Scan:
    """One newest-first read: down to `stop`, with a page budget."""

    stop: datetime | None
    floor: datetime | None  # the watermark this read must get back to; below is overlap
    until: datetime | None
    cursor: str | None
    budget: int
    seen: dict[str, str]
    used: int = 0


def _gap(
    stop: datetime, floor: datetime, until: datetime | None, cursor: str | None
) -> dict[str, Any]:
    """An unread stretch, read on later polls (search by `until`, notifications by cursor)."""
    return {"stop": iso(stop), "floor": iso(floor), "until": iso(until), "cursor": cursor}


@dataclass
class _Session:
    access: str
    refresh: str
    did: str
    handle: str


def make_tid(micros: int, clock_id: int) -> str:
    """A record key in TID syntax: 53 bits of microseconds and 10 clock bits, base32-sortable."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def reply_rkey(idempotency_key: str, queued_at: datetime) -> str:
    """The record key for one reply: the same key and queue time always give the same TID."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    micros = int(queued_at.timestamp() * 1_000_000)
    return make_tid(micros, int.from_bytes(digest[:2], "big"))


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (unverified: only used to refresh before the server refuses)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def xrpc_error(response: httpx.Response) -> str | None:
    """The XRPC error name (`ExpiredToken`, ...) of a failed call, if it is a plain name."""
    try:
        body = response.json()
    except ValueError:
        return None
    name = body.get("error") if isinstance(body, dict) else None
    return name if isinstance(name, str) and _ERROR_NAME.match(name) else None


def sort_at(created: Any, indexed: Any) -> datetime | None:
    """Bluesky's `sortAt`: the earlier of the claimed creation and the indexing time."""
    times = []
    for value in (created, indexed):
        if isinstance(value, str):
            try:
                times.append(parse_iso(value))
            except ValueError:
                continue
    return min(times) if times else None


def _reset_after(response: httpx.Response) -> float | None:
    value = response.headers.get("ratelimit-reset")
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    if number is None:
        return None
    return max(0.0, number - time.time()) if number > 1_000_000_000 else max(0.0, number)


class BlueskyAdapter(SourceAdapter):
    kind = "bluesky"
    default_url = "https://bsky.social"
    can_reply = True
    options_help = {
        "url": "the account's PDS (default https://bsky.social)",
        "handle": "account handle for notifications and replies; the secret is an app password",
        "listen": "notifications, search:QUERY; several separated by commas "
        "(default: notifications)",
        "appview_url": f"where unauthenticated search goes (default {PUBLIC_APPVIEW})",
        "overlap": "seconds re-read before the watermark (default 600)",
        "max_pages": "requests per stream per poll (default 10)",
        "profile_ttl": "seconds an author's follower count is cached (default 21600)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handle = (self.options.get("handle") or "").strip().lstrip("@") or None
        self.authenticated = bool(self.handle and self.secret)
        listen = self.options.get("listen") or "notifications"
        self.streams = list(
            dict.fromkeys(part.strip() for part in re.split(r"[,|]", listen) if part.strip())
        )
        for stream in self.streams:
            kind, _, arg = stream.partition(":")
            if stream in ("notifications", "mentions"):
                if not self.authenticated:
                    raise ConfigError(
                        f"source {self.name!r}: notifications need handle= and an app password "
                        f"(`inboxtui secret set {self.name}`)"
                    )
            elif kind != "search" or not arg.strip():
                raise ConfigError(
                    f"source {self.name!r}: listen={stream!r} is not notifications or search:QUERY"
                )
        if self.authenticated:
            self.read_url = self.url
        elif self.options.get("appview_url"):
            self.read_url = self.options["appview_url"].rstrip("/")
        else:
            self.read_url = self.url if self.options.get("url") else PUBLIC_APPVIEW
        self.overlap = timedelta(seconds=self.number_option("overlap", 600))
        self.max_pages = int(self.number_option("max_pages", 10, low=1, whole=True))
        self.profile_ttl = self.number_option("profile_ttl", 6 * 3600)
        self._session: _Session | None = None
        self._session_lock = asyncio.Lock()
        self._profiles = ReachCache(self.profile_ttl)
        self._rkeys: dict[str, str] = {}

    # -- HTTP and sessions -------------------------------------------------------

    def rate_reset(self, response: httpx.Response) -> float | None:
        return _reset_after(response)

    def _check(self, response: httpx.Response) -> None:
        try:
            raise_for_status(self.name, response)
        except SourceError as exc:
            name = xrpc_error(response)
            if name:
                exc.args = (f"{exc.args[0]} [{name}]",)
            raise

    async def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        auth: bool | None = None,
    ) -> Any:
        """One XRPC call; with auth, an expired access token is refreshed and the call retried."""
        auth = self.authenticated if auth is None else auth
        url = f"{self.url if auth else self.read_url}/xrpc/{nsid}"
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        for attempt in range(2):
            headers = {}
            if auth:
                session = await self._ensure_session()
                headers["Authorization"] = f"Bearer {session.access}"
            response = await self.send(method, url, headers=headers, **kwargs)
            if auth and attempt == 0 and response.status_code in (400, 401):
                error = xrpc_error(response)
                if error == "ExpiredToken":
                    await self._renew(headers["Authorization"], login=False)
                    continue
                if response.status_code == 401 or error == "InvalidToken":
                    # revoked or unknown: log in again, once
                    await self._renew(headers["Authorization"], login=True)
                    continue
            break
        self._check(response)
        return self.decode(response)

    async def _ensure_session(self) -> _Session:
        async with self._session_lock:  # concurrent calls share one login or refresh
            if self._session is None:
                self._session = await self._create_session()
            else:
                exp = jwt_expiry(self._session.access)
                if exp is not None and exp - _REFRESH_MARGIN < time.time():
                    await self._refresh()
            assert self._session is not None
            return self._session

    async def _renew(self, refused_authorization: str, *, login: bool) -> None:
        """Replace the session whose access token was just refused (unless a peer already did)."""
        async with self._session_lock:
            current = self._session
            if current is not None and f"Bearer {current.access}" != refused_authorization:
                return
            if login or current is None:
                self._session = await self._create_session()
            else:
                await self._refresh()

    async def _create_session(self) -> _Session:
        if not self.authenticated:
            raise ConfigError(
                f"source {self.name!r}: this needs handle= and an app password "
                f"(`inboxtui secret set {self.name}`)"
            )
        response = await self.send(
            "POST",
            f"{self.url}/xrpc/com.atproto.server.createSession",
            json={"identifier": self.handle, "password": self.secret},
        )
        if response.status_code in (400, 401) and xrpc_error(response) in (
            "AuthenticationRequired",
            "InvalidRequest",
            "AccountTakedown",
            None,
        ):
            raise ConfigError(
                f"source {self.name!r}: Bluesky refused handle {self.handle!r} with this app "
                f"password [{xrpc_error(response) or response.status_code}]"
            )
        self._check(response)
        return self._session_from(self.decode(response))

    async def _refresh(self) -> None:
        if self._session is None:
            self._session = await self._create_session()
            return
        response = await self.send(
            "POST",
            f"{self.url}/xrpc/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {self._session.refresh}"},
        )
        if response.status_code in (400, 401):
            # the refresh token expired or was revoked too: a new login is the only way
            self._session = await self._create_session()
            return
        self._check(response)
        self._session = self._session_from(self.decode(response))

    def _session_from(self, data: Any) -> _Session:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("accessJwt", "refreshJwt", "did")
        ):
            raise SourceError(f"{self.name}: the session answer lacks tokens")
        return _Session(
            access=data["accessJwt"],
            refresh=data["refreshJwt"],
            did=data["did"],
            handle=str(data.get("handle") or self.handle),
        )

    # -- listening ----------------------------------------------------------------

    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        self.rate = None
        states = dict((cursor or {}).get("streams") or {})
        notes: list[str] = []
        records: dict[str, dict[str, Any]] = {}
        for stream in self.streams:
            found, states[stream] = await self._poll_stream(stream, states.get(stream), notes)
            for record in found:
                records.setdefault(record["external_id"], record)
        mentions = sorted(
            records.values(), key=lambda r: (parse_iso(r["created_at"]), r["external_id"])
        )
        await self._add_followers(mentions, notes)
        remaining, reset = self.rate_figures()
        return FetchResult(
            mentions=mentions,
            cursor={"streams": states},
            rate_remaining=remaining,
            rate_reset_after=reset,
            notes=notes,
        )

    async def _poll_stream(
        self, stream: str, state: dict[str, Any] | None, notes: list[str]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        state = state or {}
        since = _parse(state.get("since"))
        seen: dict[str, str] = dict(state.get("seen") or {})
        budget = self.max_pages
        items: list[tuple[datetime, dict[str, Any]]] = []
        gaps: list[dict[str, Any]] = []
        for gap in state.get("gaps") or []:
            stop, floor = _parse(gap.get("stop")), _parse(gap.get("floor"))
            if stop is None or floor is None:
                continue
            if budget <= 0:
                gaps.append(gap)
                continue
            until = _parse(gap.get("until"))
            scan = _Scan(stop, floor, until, gap.get("cursor"), budget, seen)
            found, rest = await self._scan(stream, scan)
            budget -= scan.used
            items.extend(found)
            if rest is not None:
                gaps.append(rest)
        if since is None:  # first poll: the newest page only, history is not news
            found, _ = await self._scan(stream, _Scan(None, None, None, None, 1, seen))
        else:
            scan = _Scan(since - self.overlap, since, None, None, max(1, budget), seen)
            found, rest = await self._scan(stream, scan)
            if rest is not None:
                gaps.append(rest)
        items.extend(found)
        if len(gaps) > MAX_GAPS:
            notes.append(f"{stream}: backlog too long, {len(gaps) - MAX_GAPS} stretches skipped")
            gaps = gaps[-MAX_GAPS:]

        fresh: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for when, record in items:
            uri = record["external_id"]
            if uri not in seen and uri not in fresh:
                fresh[uri] = (when, record)
        times = [when for when, _ in items] + ([since] if since else [])
        # nothing found on a first poll: start the watermark now, so the next poll pages
        newest = max(times) if times else utcnow()
        horizon = newest - self.overlap
        kept = {u: t for u, t in seen.items() if (_parse(t) or horizon) >= horizon}
        kept.update({u: iso(w) or "" for u, (w, _) in fresh.items() if w >= horizon})
        seen = dict(sorted(kept.items(), key=lambda kv: kv[1])[-MAX_SEEN:])
        new_state = {"since": iso(newest), "seen": seen, "gaps": gaps}
        return [record for _, record in fresh.values()], new_state

    async def _scan(
        self, stream: str, scan: _Scan
    ) -> tuple[list[tuple[datetime, dict[str, Any]]], dict[str, Any] | None]:
        """Newest-first pages down to `scan.stop`: the items, and the gap left if cut short.

        Below `scan.floor` (the previous watermark) lies only the overlap, which is
        re-read on a best-effort basis: running out of budget there leaves no gap,
        and a page holding nothing unseen ends the scan.
        """
        kind, _, query = stream.partition(":")
        cursor = scan.cursor
        items: list[tuple[datetime, dict[str, Any]]] = []
        while scan.used < scan.budget:
            scan.used += 1
            if kind == "search":
                page, next_cursor = await self._search_page(
                    query.strip(), scan.stop, scan.until, cursor
                )
            else:
                page, next_cursor = await self._notifications_page(cursor)
            kept = [(w, r) for w, r in page if scan.stop is None or w >= scan.stop]
            items.extend(kept)
            below_floor = scan.floor is not None and any(w < scan.floor for w, _ in page)
            nothing_new = all(r["external_id"] in scan.seen for _, r in page)
            if (
                not page
                or len(kept) < len(page)
                or (below_floor and nothing_new)
                or not next_cursor
                or next_cursor == cursor
            ):
                return items, None
            cursor = next_cursor
        oldest = min((w for w, _ in items), default=None)
        if scan.stop is None or scan.floor is None or (oldest is not None and oldest <= scan.floor):
            return items, None
        if kind == "search":
            until = oldest + timedelta(milliseconds=1) if oldest else scan.until
            return items, _gap(scan.stop, scan.floor, until, None)
        return items, _gap(scan.stop, scan.floor, None, cursor)

    async def _search_page(
        self, query: str, since: datetime | None, until: datetime | None, cursor: str | None
    ) -> Page:
        params: dict[str, Any] = {"q": query, "sort": "latest", "limit": 100}
        if since is not None:
            params["since"] = iso(since)
        if until is not None:
            params["until"] = iso(until)
        if cursor:
            params["cursor"] = cursor
        data = await self._call("GET", "app.bsky.feed.searchPosts", params=params)
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise SourceError(f"{self.name}: searchPosts answered without a posts list")
        page = [self._post_record(view) for view in posts if isinstance(view, dict)]
        return [item for item in page if item], _cursor_of(data)

    async def _notifications_page(self, cursor: str | None) -> Page:
        params: dict[str, Any] = {"reasons": list(NOTIFICATION_REASONS), "limit": 100}
        if cursor:
            params["cursor"] = cursor
        data = await self._call(
            "GET", "app.bsky.notification.listNotifications", params=params, auth=True
        )
        notifications = data.get("notifications") if isinstance(data, dict) else None
        if not isinstance(notifications, list):
            raise SourceError(f"{self.name}: listNotifications answered without a list")
        page = [
            self._notification_record(n)
            for n in notifications
            if isinstance(n, dict) and n.get("reason") in NOTIFICATION_REASONS
        ]
        return [item for item in page if item], _cursor_of(data)

    def _post_record(self, view: dict[str, Any]) -> tuple[datetime, dict[str, Any]] | None:
        record = view.get("record") if isinstance(view.get("record"), dict) else {}
        when = sort_at(record.get("createdAt"), view.get("indexedAt"))
        if when is None or not isinstance(view.get("uri"), str):
            return None
        engagement = {
            "replies": view.get("replyCount"),
            "likes": view.get("likeCount"),
            "boosts": view.get("repostCount"),
            "points": None,
        }
        return when, self._mention(view["uri"], when, record, view.get("author"), view, engagement)

    def _notification_record(self, item: dict[str, Any]) -> tuple[datetime, dict[str, Any]] | None:
        record = item.get("record") if isinstance(item.get("record"), dict) else {}
        created = sort_at(record.get("createdAt"), item.get("indexedAt"))
        # the list is ordered by indexing time, so that is what the watermark follows
        indexed = _parse(item.get("indexedAt")) or created
        if created is None or indexed is None or not isinstance(item.get("uri"), str):
            return None
        return indexed, self._mention(item["uri"], created, record, item.get("author"), item, None)

    def _mention(
        self,
        uri: str,
        when: datetime,
        record: dict[str, Any],
        author: Any,
        raw: dict[str, Any],
        engagement: dict[str, Any] | None,
    ) -> dict[str, Any]:
        author = author if isinstance(author, dict) else {}
        did = str(author.get("did") or "")
        handle = str(author.get("handle") or "")
        if not handle or handle == "handle.invalid":
            handle = did or "unknown"
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
        parent = reply.get("parent") if isinstance(reply.get("parent"), dict) else {}
        langs = record.get("langs") if isinstance(record.get("langs"), list) else []
        rkey = uri.rsplit("/", 1)[-1]
        return self.record(
            external_id=uri,
            created_at=iso(when),
            text=str(record.get("text") or ""),
            url=f"https://bsky.app/profile/{did or handle}/post/{rkey}",
            title=None,
            author={
                "handle": f"@{handle}",
                "name": author.get("displayName") or None,
                "followers": None,
            },
            lang=langs[0] if langs and isinstance(langs[0], str) else None,
            in_reply_to=parent.get("uri") if isinstance(parent.get("uri"), str) else None,
            raw=raw,
            engagement=engagement,
        )

    async def _add_followers(self, mentions: list[dict[str, Any]], notes: list[str]) -> None:
        """Fill author.followers from the reach cache, asking getProfiles 25 actors at a time."""
        await add_reach(
            mentions,
            _author_did,
            self._profiles,
            self._get_profiles,
            notes=notes,
            batch_size=PROFILE_BATCH,
            max_requests=MAX_PROFILE_BATCHES,
            quota=lambda: self.rate[0] if self.rate else None,
            reserve=2 * MAX_PROFILE_BATCHES,
        )

    async def _get_profiles(self, dids: list[str]) -> dict[str, int | None]:
        data = await self._call("GET", "app.bsky.actor.getProfiles", params={"actors": dids})
        profiles = data.get("profiles") if isinstance(data, dict) else None
        found: dict[str, int | None] = {}
        for profile in profiles if isinstance(profiles, list) else []:
            if isinstance(profile, dict) and isinstance(profile.get("did"), str):
                count = profile.get("followersCount")
                found[profile["did"]] = count if isinstance(count, int) else None
        return found

    # -- replying -----------------------------------------------------------------

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        """createRecord with reply strong refs and a rkey: retries cannot duplicate."""
        session = await self._ensure_session()
        parent_uri = request.in_reply_to_external_id
        parent, root = await self._reply_refs(parent_uri, request.context)
        rkey = self._rkey_for(request)
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": request.body,
            "createdAt": iso(utcnow()),
            "reply": {"root": root, "parent": parent},
        }
        if isinstance(request.context.get("lang"), str):
            record["langs"] = [request.context["lang"]]
        body = {"repo": session.did, "collection": POST_COLLECTION, "rkey": rkey, "record": record}
        try:
            data = await self._call("POST", "com.atproto.repo.createRecord", body=body, auth=True)
        except SourceError as exc:
            if exc.status in (401, 403, 429):
                raise
            existing = await self._own_record(rkey)
            if existing is None:
                raise
            data = existing
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            raise SourceError(f"{self.name}: createRecord answered without a uri")
        handle = self._session.handle if self._session else session.handle
        return ReplyResult(
            remote_id=data["uri"], remote_url=f"https://bsky.app/profile/{handle}/post/{rkey}"
        )

    def _rkey_for(self, request: ReplyRequest) -> str:
        queued = request.context.get("created_at")
        when: datetime | None = None
        if isinstance(queued, datetime):
            when = queued
        elif isinstance(queued, str):
            when = _parse(queued)
        if when is not None:
            return reply_rkey(request.idempotency_key, when)
        # no queue time given: stable for this process's lifetime only
        key = request.idempotency_key
        return self._rkeys.setdefault(key, reply_rkey(key, utcnow()))

    async def _reply_refs(
        self, parent_uri: str, context: Any
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Strong refs (uri + cid) of the parent and the thread root."""
        cid, root_uri = context.get("cid"), context.get("root_uri")
        root_cid = context.get("root_cid")
        if isinstance(cid, str) and isinstance(root_uri, str) and isinstance(root_cid, str):
            return {"uri": parent_uri, "cid": cid}, {"uri": root_uri, "cid": root_cid}
        data = await self._call("GET", "app.bsky.feed.getPosts", params={"uris": [parent_uri]})
        posts = data.get("posts") if isinstance(data, dict) else None
        view = next(
            (p for p in posts or [] if isinstance(p, dict) and p.get("uri") == parent_uri), None
        )
        if view is None or not isinstance(view.get("cid"), str):
            raise SourceError(
                f"{self.name}: the post being replied to is gone (deleted or hidden)",
                transient=False,
            )
        parent = {"uri": parent_uri, "cid": view["cid"]}
        record = view.get("record") if isinstance(view.get("record"), dict) else {}
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
        root = reply.get("root") if isinstance(reply.get("root"), dict) else None
        if root and isinstance(root.get("uri"), str) and isinstance(root.get("cid"), str):
            return parent, {"uri": root["uri"], "cid": root["cid"]}
        return parent, dict(parent)

    async def _own_record(self, rkey: str) -> dict[str, Any] | None:
        """Our post under `rkey`, if an earlier attempt created it."""
        session = await self._ensure_session()
        params = {"repo": session.did, "collection": POST_COLLECTION, "rkey": rkey}
        try:
            data = await self._call("GET", "com.atproto.repo.getRecord", params=params, auth=True)
        except SourceError:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("uri"), str) else None


def _author_did(mention: dict[str, Any]) -> str | None:
    author = mention["raw"].get("author")
    did = author.get("did") if isinstance(author, dict) else None
    return did if isinstance(did, str) and did.startswith("did:") else None


def _cursor_of(data: Any) -> str | None:
    cursor = data.get("cursor") if isinstance(data, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


ADAPTER = BlueskyAdapter
