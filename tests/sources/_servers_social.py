"""Stateful fakes of the Bluesky and Reddit APIs, and a mastodon-mock process, for tests.

The fakes are request handlers for the `http_server` fixture (a real HTTP
server on 127.0.0.1, see conftest.py): they keep state (posts, sessions,
tokens, records) and answer with payloads shaped like the services' own
documentation (Bluesky lexicons under ../shared/fixtures/api/bluesky, Reddit
listings recorded by PRAW under ../shared/fixtures/api/reddit).

`fake.fail(path, **reply)` queues a scripted reply (same fields as the
conftest `Reply`) that the next request to `path` gets instead of the fake's
answer, so a fault can hit one call in the middle of a conversation.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

API_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "api"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Scripted:
    """Per-path queues of scripted replies, consumed before the fake's own answer."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, list[dict[str, Any]]] = {}

    def fail(self, path: str, **reply: Any) -> None:
        with self.lock:
            self._faults.setdefault(path, []).append(reply)

    def _scripted(self, key: str) -> dict[str, Any] | None:
        queue = self._faults.get(key)
        return queue.pop(0) if queue else None


# -- Bluesky -------------------------------------------------------------------


class FakeBluesky(_Scripted):
    """A PDS + AppView: sessions, searchPosts, listNotifications, getProfiles, records."""

    NSIDS = (
        "com.atproto.server.createSession",
        "com.atproto.server.refreshSession",
        "app.bsky.feed.searchPosts",
        "app.bsky.notification.listNotifications",
        "app.bsky.actor.getProfiles",
        "app.bsky.feed.getPosts",
        "com.atproto.repo.createRecord",
        "com.atproto.repo.getRecord",
    )
    PUBLIC = ("app.bsky.feed.searchPosts", "app.bsky.actor.getProfiles", "app.bsky.feed.getPosts")

    def __init__(self, handle: str = "brand.example.com", password: str = "app-pass-1234") -> None:
        super().__init__()
        self.handle = handle
        self.password = password
        self.did = "did:plc:brandbrandbrandbrand00"
        self.posts: list[dict[str, Any]] = []  # postViews
        self.notifications: list[dict[str, Any]] = []
        self.followers: dict[str, int] = {}
        self.names: dict[str, tuple[str, str]] = {}  # did -> (handle, display name)
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {"uri", "cid", "value"}
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.expired: set[str] = set()
        self.token_ttl = 7200  # seconds, written into the JWT `exp`
        self.lose_create_response = False  # commit the record, then answer 502
        self.profile_batches: list[list[str]] = []
        self.remaining = 3000
        self._serial = 0

    def mount(self, server: Any) -> None:
        for nsid in self.NSIDS:
            server.add(f"/xrpc/{nsid}", method="*", handler=self)

    # state helpers -------------------------------------------------------------

    def actor(self, did: str, handle: str, name: str, followers: int) -> None:
        self.names[did] = (handle, name)
        self.followers[did] = followers

    def add_post(
        self,
        text: str,
        *,
        by: str = "did:plc:alice",
        created: datetime,
        indexed: datetime | None = None,
        reply_to: dict[str, Any] | None = None,
        langs: tuple[str, ...] = ("en",),
    ) -> dict[str, Any]:
        with self.lock:
            self._serial += 1
            handle, name = self.names.get(by, (by.split(":")[-1] + ".test", by))
            rkey = f"3kpost{self._serial:07d}"
            record: dict[str, Any] = {
                "$type": "app.bsky.feed.post",
                "createdAt": stamp(created),
                "langs": list(langs),
                "text": text,
            }
            if reply_to is not None:
                parent = {"uri": reply_to["uri"], "cid": reply_to["cid"]}
                root = reply_to["record"].get("reply", {}).get("root", parent)
                record["reply"] = {"root": root, "parent": parent}
            view = {
                "uri": f"at://{by}/app.bsky.feed.post/{rkey}",
                "cid": f"bafyreicid{self._serial:06d}",
                "author": {
                    "did": by,
                    "handle": handle,
                    "displayName": name,
                    "avatar": f"https://cdn.bsky.app/img/avatar/plain/{by}/x@jpeg",
                    "associated": {"chat": {"allowIncoming": "all"}},
                    "viewer": {"muted": False, "blockedBy": False},
                    "labels": [],
                    "createdAt": "2023-04-26T19:05:34.249Z",
                },
                "record": record,
                "replyCount": 0,
                "repostCount": 1,
                "likeCount": 2,
                "quoteCount": 0,
                "indexedAt": stamp(indexed or created),
                "viewer": {"threadMuted": False, "embeddingDisabled": False},
                "labels": [],
            }
            self.posts.append(view)
            return view

    def notify(self, reason: str, view: dict[str, Any]) -> dict[str, Any]:
        """A notification for the brand account about `view` (mention, reply, quote, like...)."""
        with self.lock:
            author = {**view["author"], "description": "bio", "indexedAt": view["indexedAt"]}
            item = {
                "uri": view["uri"],
                "cid": view["cid"],
                "author": author,
                "reason": reason,
                "record": view["record"],
                "isRead": False,
                "indexedAt": view["indexedAt"],
                "labels": [],
            }
            if reason in ("reply", "quote", "like"):
                item["reasonSubject"] = f"at://{self.did}/app.bsky.feed.post/3kbrandroot01"
            self.notifications.append(item)
            return item

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.expired |= self.access
            self.access.clear()

    def expire_all_tokens(self) -> None:
        with self.lock:
            self.expired |= self.access | self.refresh
            self.access.clear()
            self.refresh.clear()

    # HTTP ---------------------------------------------------------------------

    def __call__(self, request: Any) -> dict[str, Any]:
        nsid = request.path.removeprefix("/xrpc/")
        with self.lock:
            self.calls[nsid] += 1
            scripted = self._scripted(nsid)
            if scripted is not None:
                return scripted
            self.remaining = max(0, self.remaining - 1)
            reply = self._answer(nsid, request)
            reply.setdefault("headers", {}).update(
                {
                    "RateLimit-Limit": "3000",
                    "RateLimit-Remaining": str(self.remaining),
                    "RateLimit-Reset": str(int(time.time()) + 300),
                    "RateLimit-Policy": "3000;w=300",
                }
            )
            return reply

    def _answer(self, nsid: str, request: Any) -> dict[str, Any]:
        if nsid == "com.atproto.server.createSession":
            body = request.json()
            if body.get("identifier") != self.handle or body.get("password") != self.password:
                return _xrpc(401, "AuthenticationRequired", "Invalid identifier or password")
            return {"json": self._new_session()}
        if nsid == "com.atproto.server.refreshSession":
            token = _bearer(request)
            if token in self.expired:
                return _xrpc(400, "ExpiredToken", "Token has expired")
            if token not in self.refresh:
                return _xrpc(400, "InvalidToken", "Token could not be verified")
            self.refresh.discard(token)
            return {"json": self._new_session()}
        if nsid not in self.PUBLIC or _bearer(request) is not None:
            denied = self._check_access(request)
            if denied:
                return denied
        handler = getattr(self, "_" + nsid.rsplit(".", 1)[-1])
        return handler(request)

    def _check_access(self, request: Any) -> dict[str, Any] | None:
        token = _bearer(request)
        if token is None:
            return _xrpc(401, "AuthenticationRequired", "Authentication Required")
        if token in self.expired:
            return _xrpc(400, "ExpiredToken", "Token has expired")
        if token not in self.access:
            return _xrpc(401, "InvalidToken", "Bad token scope")
        return None

    def _new_session(self) -> dict[str, Any]:
        self._serial += 1
        access = _jwt(
            {"scope": "com.atproto.appPass", "sub": self.did}, self.token_ttl, self._serial
        )
        refresh = _jwt({"scope": "com.atproto.refresh", "sub": self.did}, 90 * 86400, self._serial)
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "email": "brand@example.com",
            "emailConfirmed": True,
            "active": True,
        }

    def _searchPosts(self, request: Any) -> dict[str, Any]:
        query = (request.arg("q") or "").lower()
        since, until = request.arg("since"), request.arg("until")
        limit = int(request.arg("limit") or 25)
        if not 1 <= limit <= 100:
            return _xrpc(400, "InvalidRequest", "limit out of range")
        hits = [p for p in self.posts if query in p["record"]["text"].lower()]
        if since:
            hits = [p for p in hits if _sort_at(p) >= _time(since)]
        if until:
            hits = [p for p in hits if _sort_at(p) < _time(until)]
        hits.sort(key=lambda p: (_sort_at(p), p["uri"]), reverse=True)
        offset = int(request.arg("cursor") or 0)
        page = hits[offset : offset + limit]
        body: dict[str, Any] = {"posts": copy.deepcopy(page), "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            body["cursor"] = str(offset + limit)
        return {"json": body}

    def _listNotifications(self, request: Any) -> dict[str, Any]:
        reasons = set(request.query.get("reasons", []))
        limit = int(request.arg("limit") or 50)
        items = [n for n in self.notifications if not reasons or n["reason"] in reasons]
        items.sort(key=lambda n: (n["indexedAt"], n["uri"]), reverse=True)
        cursor = request.arg("cursor")
        if cursor:  # a position in time, stable while new notifications arrive
            at, _, uri = cursor.partition("::")
            items = [n for n in items if (n["indexedAt"], n["uri"]) < (at, uri)]
        page = items[:limit]
        body: dict[str, Any] = {"notifications": copy.deepcopy(page), "priority": False}
        if len(items) > limit:
            body["cursor"] = f"{page[-1]['indexedAt']}::{page[-1]['uri']}"
        return {"json": body}

    def _getProfiles(self, request: Any) -> dict[str, Any]:
        actors = request.query.get("actors", [])
        if not 1 <= len(actors) <= 25:
            return _xrpc(400, "InvalidRequest", "actors must hold 1 to 25 items")
        self.profile_batches.append(list(actors))
        profiles = []
        for did in actors:
            if did not in self.followers:
                continue
            handle, name = self.names.get(did, (did, did))
            profiles.append(
                {
                    "did": did,
                    "handle": handle,
                    "displayName": name,
                    "description": "",
                    "followersCount": self.followers[did],
                    "followsCount": 10,
                    "postsCount": 99,
                    "indexedAt": "2024-01-01T00:00:00.000Z",
                    "createdAt": "2023-04-26T19:05:34.249Z",
                    "labels": [],
                }
            )
        return {"json": {"profiles": profiles}}

    def _getPosts(self, request: Any) -> dict[str, Any]:
        uris = request.query.get("uris", [])
        return {"json": {"posts": copy.deepcopy([p for p in self.posts if p["uri"] in uris])}}

    def _createRecord(self, request: Any) -> dict[str, Any]:
        body = request.json()
        rkey = body.get("rkey")
        record = body.get("record") or {}
        if body.get("repo") != self.did or body.get("collection") != "app.bsky.feed.post":
            return _xrpc(400, "InvalidRequest", "bad repo or collection")
        if rkey is not None and not TID.match(rkey):
            return _xrpc(400, "InvalidRequest", "Invalid record key")
        reply = record.get("reply") or {}
        for ref in ("root", "parent"):
            if set(reply.get(ref) or {}) != {"uri", "cid"}:
                return _xrpc(400, "InvalidRecord", f"reply.{ref} must be a strong ref")
        if rkey in self.records:
            # what the reference PDS does today for an existing rkey
            return _xrpc(500, "InternalServerError", "Internal Server Error")
        self._serial += 1
        uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
        self.records[rkey] = {"uri": uri, "cid": f"bafyreinew{self._serial:06d}", "value": record}
        answer = {
            "uri": uri,
            "cid": self.records[rkey]["cid"],
            "commit": {"cid": "bafyreicommit", "rev": "3lu3k7vikye2m"},
            "validationStatus": "valid",
        }
        if self.lose_create_response:
            self.lose_create_response = False
            return {"status": 502, "body": "<html>502 Bad Gateway</html>"}
        return {"json": answer}

    def _getRecord(self, request: Any) -> dict[str, Any]:
        stored = self.records.get(request.arg("rkey") or "")
        if request.arg("repo") != self.did or stored is None:
            return _xrpc(400, "RecordNotFound", "Could not locate record")
        return {"json": copy.deepcopy(stored)}


def _xrpc(status: int, error: str, message: str) -> dict[str, Any]:
    return {"status": status, "json": {"error": error, "message": message}}


def _bearer(request: Any) -> str | None:
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _jwt(claims: dict[str, Any], ttl: float, serial: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    payload = {**claims, "iat": now, "exp": int(now + ttl), "jti": f"t{serial}"}
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(payload)}.c2lnbmF0dXJl"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sort_at(view: dict[str, Any]) -> datetime:
    return min(_time(view["record"]["createdAt"]), _time(view["indexedAt"]))


# -- Reddit --------------------------------------------------------------------


def reddit_listing_children() -> list[dict[str, Any]]:
    """The 100 real t3 objects of r/AskReddit/new recorded by PRAW."""
    cassette = json.loads(
        (API_FIXTURES / "reddit/cassettes/TestSubredditListings.test_new.json").read_text()
    )
    for interaction in cassette["interactions"]:
        if "/new" in interaction["request"]["uri"]:
            body = json.loads(interaction["response"]["body"]["string"])
            return [child["data"] for child in body["data"]["children"]]
    raise AssertionError("no listing in the PRAW cassette")


def reddit_comment_template() -> dict[str, Any]:
    cassette = json.loads(
        (API_FIXTURES / "reddit/cassettes/TestComment.test_reply.json").read_text()
    )
    body = json.loads(cassette["interactions"][-1]["response"]["body"]["string"])
    return body["json"]["data"]["things"][0]["data"]


class FakeReddit(_Scripted):
    """www.reddit.com's token endpoint and oauth.reddit.com's listings and comments."""

    def __init__(
        self,
        subreddit: str = "acme",
        client_id: str = "cid-123",
        client_secret: str = "csecret-456",
        username: str = "brandbot",
        password: str = "hunter2-pw",
    ) -> None:
        super().__init__()
        self.subreddit = subreddit
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self.things: list[dict[str, Any]] = []  # t3 and t1, any order
        self.deleted: set[str] = set()
        self.tokens: dict[str, str] = {}  # token -> "app" | "user"
        self.expires_in = 3600
        self.lose_comment_response = False
        self._serial = 0
        self._templates = reddit_listing_children()
        self._comment = reddit_comment_template()
        self._clock = time.time() - 3600

    def mount(self, server: Any) -> None:
        base = f"/r/{self.subreddit}"
        for path in (
            "/api/v1/access_token",
            f"{base}/new",
            f"{base}/comments",
            f"{base}/search",
            "/api/comment",
            f"/user/{self.username}/comments",
        ):
            server.add(path, method="*", handler=self)

    def post(self, title: str, selftext: str = "", *, at: float | None = None) -> dict[str, Any]:
        """A new submission shaped exactly like a recorded one."""
        with self.lock:
            template = copy.deepcopy(self._templates[self._serial % len(self._templates)])
            self._serial += 1
            self._clock = at if at is not None else max(self._clock + 1, time.time())
            thing_id = f"zz{self._serial:05d}"
            template.update(
                {
                    "id": thing_id,
                    "name": f"t3_{thing_id}",
                    "title": title,
                    "selftext": selftext,
                    "is_self": True,
                    "subreddit": self.subreddit,
                    "created_utc": self._clock,
                    "created": self._clock + 28800,
                    "permalink": f"/r/{self.subreddit}/comments/{thing_id}/post/",
                    "author": f"user{self._serial}",
                }
            )
            self.things.append(template)
            return template

    def comment(self, parent: str, body: str, *, author: str | None = None) -> dict[str, Any]:
        with self.lock:
            thing = copy.deepcopy(self._comment)
            self._serial += 1
            self._clock = max(self._clock + 1, time.time())
            thing_id = f"c{self._serial:06d}"
            link = parent if parent.startswith("t3_") else "t3_zz00001"
            thing.update(
                {
                    "id": thing_id,
                    "name": f"t1_{thing_id}",
                    "parent_id": parent,
                    "link_id": link,
                    "body": body,
                    "author": author or f"user{self._serial}",
                    "subreddit": self.subreddit,
                    "created_utc": self._clock,
                    "created": self._clock + 28800,
                    "link_title": "A thread",
                    "permalink": f"/r/{self.subreddit}/comments/{link[3:]}/x/{thing_id}/",
                }
            )
            self.things.append(thing)
            return thing

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def __call__(self, request: Any) -> dict[str, Any]:
        key = request.path
        with self.lock:
            self.calls[key] += 1
            scripted = self._scripted(key)
            if scripted is not None:
                return scripted
            if key == "/api/v1/access_token":
                return self._token(request)
            kind = self.tokens.get(_bearer(request) or "")
            if kind is None:
                return {"status": 401, "json": {"message": "Unauthorized", "error": 401}}
            reply = self._answer(key, request, kind)
            reply.setdefault("headers", {}).update(
                {
                    "x-ratelimit-remaining": "599.0",
                    "x-ratelimit-reset": "369",
                    "x-ratelimit-used": "1",
                }
            )
            return reply

    def _token(self, request: Any) -> dict[str, Any]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return {"status": 401, "json": {"message": "Unauthorized", "error": 401}}
        form = dict(_form(request.body))
        if form.get("grant_type") == "client_credentials":
            kind = "app"
        elif form.get("grant_type") == "password":
            if (form.get("username"), form.get("password")) != (self.username, self.password):
                return {"json": {"error": "invalid_grant"}}  # Reddit says this with a 200
            kind = "user"
        else:
            return {"json": {"error": "unsupported_grant_type"}}
        self._serial += 1
        token = f"{kind}-token-{self._serial}"
        self.tokens[token] = kind
        return {
            "json": {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "scope": "*",
            }
        }

    def _answer(self, path: str, request: Any, kind: str) -> dict[str, Any]:
        if path == "/api/comment":
            return self._post_comment(request, kind)
        if path.startswith("/user/"):
            mine = [t for t in self.things if t["name"].startswith("t1_")]
            mine = [t for t in mine if t["author"] == self.username]
            return _listing(sorted(mine, key=lambda t: t["created_utc"], reverse=True)[:25])
        if path.endswith("/new"):
            pool = [t for t in self.things if t["name"].startswith("t3_")]
        elif path.endswith("/comments"):
            pool = [t for t in self.things if t["name"].startswith("t1_")]
        else:
            query = (request.arg("q") or "").lower()
            if request.arg("sort") != "new" or request.arg("restrict_sr") not in ("1", "true"):
                return {"status": 400, "json": {"message": "Bad Request", "error": 400}}
            pool = [
                t
                for t in self.things
                if t["name"].startswith("t3_")
                and query in (t["title"] + " " + t.get("selftext", "")).lower()
            ]
        return _listing(self._window(pool, request))

    def _window(self, pool: list[dict[str, Any]], request: Any) -> list[dict[str, Any]]:
        """Reddit's listing semantics: newest first; `before`/`after` are adjacent windows."""
        ordered = sorted(
            (t for t in pool if t["name"] not in self.deleted),
            key=lambda t: (t["created_utc"], t["name"]),
            reverse=True,
        )
        names = [t["name"] for t in ordered]
        limit = min(100, int(request.arg("limit") or 25))
        before, after = request.arg("before"), request.arg("after")
        if before:
            if before not in names:
                return []  # a deleted anchor: Reddit answers an empty page
            end = names.index(before)
            return ordered[max(0, end - limit) : end]
        if after:
            if after not in names:
                return []
            start = names.index(after) + 1
            return ordered[start : start + limit]
        return ordered[:limit]

    def _post_comment(self, request: Any, kind: str) -> dict[str, Any]:
        if kind != "user":
            return {"status": 403, "json": {"message": "Forbidden", "error": 403}}
        form = dict(_form(request.body))
        if form.get("api_type") != "json":
            return {"status": 400, "body": "api_type=json expected"}
        parent = form.get("thing_id", "")
        if not any(t["name"] == parent for t in self.things):
            return {
                "json": {
                    "json": {"errors": [["DELETED_COMMENT", "that comment is deleted", "parent"]]}
                }
            }
        thing = self.comment(parent, form.get("text", ""), author=self.username)
        if self.lose_comment_response:
            self.lose_comment_response = False
            return {"status": 504, "body": "<html>upstream timed out</html>"}
        return {
            "json": {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": thing}]}}}
        }


def _listing(things: list[dict[str, Any]]) -> dict[str, Any]:
    children = [{"kind": t["name"][:2], "data": copy.deepcopy(t)} for t in things]
    return {
        "json": {
            "kind": "Listing",
            "data": {
                "modhash": "",
                "dist": len(children),
                "children": children,
                "after": children[-1]["data"]["name"] if children else None,
                "before": None,
            },
        }
    }


def _form(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode(), keep_blank_values=True)


# -- mastodon-mock ---------------------------------------------------------------


class MastodonMock:
    """`mastodon_mock serve --in-memory --demo` in a subprocess on a free local port."""

    def __init__(self, executable: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(executable),
                "serve",
                "--in-memory",
                "--demo",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mastodon_mock exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/api/v1/instance", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mastodon_mock did not start within 60 s")
            time.sleep(0.1)

    def reset(self) -> None:
        httpx.post(f"{self.url}/api/v1/_mock/reset", timeout=10).raise_for_status()

    def fault(self, path: str, effect: dict[str, Any], count: int = 1) -> None:
        rule = {"match": {"path": path}, "effect": effect, "count": count}
        httpx.post(f"{self.url}/api/v1/_mock/faults", json=rule, timeout=5).raise_for_status()

    def post(self, token: str, **form: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/api/v1/statuses",
            data=form,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def in_a_while(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
