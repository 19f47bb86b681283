"""Hacker News authors' reach: karma from HN's official user API, cached and capped.

The fake serves `/v0/user/{id}.json` like the Firebase API documents it
(`id`, `created`, `karma`, `about`, `submitted`; `null` for an unknown id).
"""

from __future__ import annotations

from typing import Any

import pytest

from inboxtui.ingest import parse_record

from .test_hackernews import T0, algolia, comment, ids, make, story

__all__ = ["algolia"]  # the fixture, imported for this module's tests


def hn_user(user_id: str, karma: int) -> dict[str, Any]:
    """The documented shape of `GET /v0/user/{id}.json`."""
    return {
        "about": "This is a test",
        "created": 1173923446,
        "delay": 0,
        "id": user_id,
        "karma": karma,
        "submitted": [8265435, 8168423, 8090946],
    }


class Users:
    def __init__(self, server) -> None:
        self.server = server

    def serve(self, user_id: str, karma: int) -> None:
        self.server.add(f"/v0/user/{user_id}.json", json=hn_user(user_id, karma))

    def asked(self) -> list[str]:
        return [r.path for r in self.server.requests if r.path.startswith("/v0/user/")]


@pytest.fixture
def users(http_server) -> Users:
    return Users(http_server)


def reach(result) -> dict[str, int | None]:
    return {m["author"]["handle"]: m["author"]["followers"] for m in result.mentions}


async def test_karma_is_the_reach_and_cached(http_server, source_client, algolia, users) -> None:
    algolia.items += [story(1, T0), comment(2, T0 + 1, parent=1)]
    users.serve("founder1", 4200)
    users.serve("commenter2", 17)
    source = make(http_server, source_client)
    first = await source.fetch(None)
    assert reach(first) == {"founder1": 4200, "commenter2": 17} and first.notes == []
    parse_record(first.mentions[0])

    later = comment(3, T0 + 5, parent=1)
    later["author"] = "founder1"
    algolia.items.append(later)
    second = await source.fetch(first.cursor)
    assert ids(second.mentions) == ["3"] and reach(second) == {"founder1": 4200}
    assert sorted(users.asked()) == ["/v0/user/commenter2.json", "/v0/user/founder1.json"]


async def test_unknown_user_answers_null(http_server, source_client, algolia) -> None:
    algolia.items.append(story(1, T0))
    http_server.add("/v0/user/founder1.json", json=None)
    result = await make(http_server, source_client).fetch(None)
    assert reach(result) == {"founder1": None} and result.notes == []


async def test_lookups_per_poll_are_capped(http_server, source_client, algolia, users) -> None:
    algolia.items += [story(n, T0 + n) for n in range(1, 5)]
    for n in range(1, 5):
        users.serve(f"founder{n}", n)
    source = make(http_server, source_client, per_page=10, max_profiles="1")
    result = await source.fetch(None)
    assert list(reach(result).values()) == [1, None, None, None]
    assert result.notes == ["karma skipped for 3 authors (lookup limit per poll)"]


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 429, "headers": {"Retry-After": "30"}, "body": "slow down"},
        {"status": 403, "json": {"error": "Permission denied"}},
        {"body": '{"id": "founder1", "karma": 4', "headers": {"Content-Type": "application/json"}},
    ],
    ids=["429", "403", "truncated-json"],
)
async def test_failed_lookup_never_fails_the_poll(
    http_server, source_client, algolia, users, reply
) -> None:
    algolia.items += [story(1, T0), story(2, T0 + 1)]
    http_server.add("/v0/user/founder1.json", **reply)
    users.serve("founder1", 4200)  # answers the request after the failure
    users.serve("founder2", 9)
    source = make(http_server, source_client)
    first = await source.fetch(None)
    assert ids(first.mentions) == ["1", "2"]
    assert reach(first) == {"founder1": None, "founder2": None}
    assert len(first.notes) == 1 and first.notes[0].startswith("karma unavailable")
    assert users.asked() == ["/v0/user/founder1.json"]  # the failure ended this poll's lookups

    again = story(3, T0 + 5)
    again["author"] = "founder1"
    algolia.items.append(again)
    second = await source.fetch(first.cursor)  # failures are not cached
    assert reach(second) == {"founder1": 4200}
