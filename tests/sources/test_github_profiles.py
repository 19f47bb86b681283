"""GitHub authors' follower counts: `GET /users/{login}`, cached, capped, never fatal.

The fake user endpoint answers with GitHub's documented "Get a user" response
(the public-user example of the REST reference) and the real rate-limit
headers, sharing the quota of the comment listing (`FakeGitHub.remaining`).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui.ingest import parse_record
from inboxtui.polling import POLL_ACTOR, AdapterCache, poll_source
from inboxtui.sources_admin import add_source

from .test_github import REPO, FakeGitHub, github, ids, make

__all__ = ["github"]  # the fixture, imported for this module's tests


def public_user(login: str, uid: int, followers: int) -> dict[str, Any]:
    """GitHub's documented `GET /users/{username}` body (public user), for `login`."""
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"MDQ6VXNlcj{uid}",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "site_admin": False,
        "name": "monalisa octocat",
        "company": "GitHub",
        "blog": "https://github.com/blog",
        "location": "San Francisco",
        "email": "octocat@github.com",
        "hireable": False,
        "bio": "There once was...",
        "twitter_username": "monatheoctocat",
        "public_repos": 2,
        "public_gists": 1,
        "followers": followers,
        "following": 0,
        "created_at": "2008-01-14T04:33:35Z",
        "updated_at": "2008-01-14T04:33:35Z",
    }


class Users:
    """`GET /users/{login}` for the comment authors of a `FakeGitHub` (user{cid})."""

    def __init__(self, server, fake: FakeGitHub) -> None:
        self.server, self.fake = server, fake

    def serve(self, cid: int, followers: int | None = None) -> str:
        path = f"/users/user{cid}"

        def answer(request) -> dict[str, Any]:
            self.fake.remaining = max(0, self.fake.remaining - 1)
            count = cid * 100 if followers is None else followers
            body = public_user(f"user{cid}", cid, count)
            return {"json": body, "headers": {"ETag": f'W/"u{cid}"', **self.fake.rate_headers()}}

        self.server.add(path, handler=answer)
        return path

    def asked(self) -> list[str]:
        return [r.path for r in self.server.requests if r.path.startswith("/users/")]


@pytest.fixture
def users(http_server, github) -> Users:
    return Users(http_server, github)


def followers(result) -> dict[str, int | None]:
    return {m["author"]["handle"]: m["author"]["followers"] for m in result.mentions}


async def test_followers_looked_up_once_and_cached(http_server, source_client, github, users):
    for cid in (1, 2, 3):
        github.comment(cid, cid)
        users.serve(cid)
    github.comment(4, 4)  # user4 posts twice: one lookup
    github.comments[-1]["user"]["login"] = "user1"
    source = make(http_server, source_client)
    first = await source.fetch(None)
    assert followers(first) == {"user1": 100, "user2": 200, "user3": 300}
    assert sorted(users.asked()) == ["/users/user1", "/users/user2", "/users/user3"]
    sent = http_server.requests_to("/users/user1")[0]
    assert sent.headers["authorization"] == "Bearer ghp_test"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert first.notes == []
    parse_record(first.mentions[0])  # the interchange format takes it

    github.comment(5, 50)
    github.comments[-1]["user"]["login"] = "user2"
    second = await source.fetch(first.cursor)
    assert followers(second) == {"user2": 200}
    assert len(users.asked()) == 3  # served from the cache


async def test_zero_ttl_looks_up_again(http_server, source_client, github, users) -> None:
    github.comment(1, 1)
    users.serve(1)
    source = make(http_server, source_client, profile_ttl="0")
    first = await source.fetch(None)
    github.edit(1, 20, "edited")
    await source.fetch(first.cursor)
    assert users.asked() == ["/users/user1", "/users/user1"]


async def test_lookups_per_poll_are_capped(http_server, source_client, github, users) -> None:
    for cid in range(1, 6):
        github.comment(cid, cid)
        users.serve(cid)
    source = make(http_server, source_client, max_profiles="2")
    first = await source.fetch(None)
    assert list(followers(first).values()) == [100, 200, None, None, None]
    assert len(users.asked()) == 2
    assert first.notes == ["follower counts skipped for 3 authors (lookup limit per poll)"]

    github.edit(3, 30, "user3 again")
    second = await source.fetch(first.cursor)
    assert followers(second) == {"user3": 300}  # the next poll gets further


async def test_no_lookups_when_the_quota_is_low(http_server, source_client, github, users) -> None:
    github.comment(1, 1)
    users.serve(1)
    github.remaining = 22  # 21 left after the listing: PROFILE_RESERVE 20 + 1 repository
    result = await make(http_server, source_client).fetch(None)
    assert users.asked() == [] and followers(result) == {"user1": None}
    assert result.notes == ["follower counts skipped for 1 author (quota kept for listing)"]


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (403, {"X-RateLimit-Remaining": "0"}),  # primary limit, GitHub's 403 form
        (429, {"Retry-After": "60", "X-RateLimit-Remaining": "12"}),  # secondary limit
    ],
)
async def test_rate_limited_profile_never_fails_the_poll(
    http_server, source_client, github, users, status, headers
) -> None:
    github.comment(1, 1)
    github.comment(2, 2)
    users.serve(2)
    reset = {"X-RateLimit-Limit": "5000", "X-RateLimit-Reset": str(int(time.time()) + 60)}
    message = {"message": "API rate limit exceeded for user ID 1."}
    http_server.add("/users/user1", status=status, json=message, headers={**reset, **headers})
    result = await make(http_server, source_client).fetch(None)
    assert ids(result.mentions) == ["1", "2"]
    assert followers(result) == {"user1": None, "user2": None}
    assert users.asked() == ["/users/user1"]  # no more lookups after the refusal
    assert len(result.notes) == 1 and result.notes[0].startswith("follower counts unavailable")
    assert str(status) in result.notes[0]
    assert result.rate_remaining == 0 and 0 < result.rate_reset_after <= 60


async def test_truncated_profile_is_noted_and_retried(
    http_server, source_client, github, users
) -> None:
    github.comment(1, 1)
    body = '{"login": "user1", "id": 1, "followers": 1'
    http_server.add("/users/user1", body=body, headers={"Content-Type": "application/json"})
    users.serve(1)  # the next request answers properly
    source = make(http_server, source_client)
    first = await source.fetch(None)
    assert followers(first) == {"user1": None}
    assert "not JSON" in first.notes[0]
    github.edit(1, 20, "edited")
    second = await source.fetch(first.cursor)  # a failure is not cached
    assert followers(second) == {"user1": 100} and second.notes == []


async def test_unknown_user_is_none_and_cached(http_server, source_client, github) -> None:
    github.comment(1, 1)
    http_server.add("/users/user1", status=404, json={"message": "Not Found"})
    source = make(http_server, source_client)
    first = await source.fetch(None)
    assert followers(first) == {"user1": None} and first.notes == []
    github.edit(1, 20, "edited")
    await source.fetch(first.cursor)
    assert len(http_server.requests_to("/users/user1")) == 1


async def test_edited_comment_carries_edited_at(http_server, source_client, github) -> None:
    github.comment(1, 1)
    github.comment(2, 2)
    source = make(http_server, source_client, max_profiles="0")
    first = await source.fetch(None)
    assert all("edited_at" not in m for m in first.mentions)
    github.edit(1, 40, "Me too (edited)")
    second = await source.fetch(first.cursor)
    (edited,) = second.mentions
    assert edited["edited_at"] == github.comments[0]["updated_at"]
    assert parse_record(edited).edited_at is not None


async def test_poller_stores_reach_and_applies_an_edit(
    db, http_server, source_client, github, users
) -> None:
    """End to end: adapter -> poller -> store; the adapter (and its cache) lives between polls."""
    github.comment(1, 1, body="Acme broke my build")
    users.serve(1)
    options = {"url": http_server.url, "repos": REPO, "since": "3650d"}
    add_source(db, "github", "gh-acme", options, actor="test")
    adapters = AdapterCache()

    async def poll() -> None:
        outcome = await poll_source(
            db, "gh-acme", client=source_client, owner="t", force=True, adapters=adapters
        )
        assert outcome.status == "ok", outcome

    await poll()
    github.edit(1, 30, "Acme fixed my build")
    await poll()
    with db.read() as session:
        body, followers = session.execute(
            text("SELECT m.text, a.followers FROM mention m JOIN author a ON a.id = m.author_id")
        ).one()
        actors = session.execute(text("SELECT actor FROM event WHERE action = 'edited'")).all()
    assert (body, followers) == ("Acme fixed my build", 100)
    assert [a for (a,) in actors] == [POLL_ACTOR]
    assert users.asked() == ["/users/user1"]  # the second poll used the cache
