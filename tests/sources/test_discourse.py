"""Discourse adapter against a local server answering like a Discourse forum.

The fake serves the documented `GET /posts.json` example (25 posts, ids 1..29
with holes), pages with `before=` (ids lower than it, newest first) and a
small page size, and `/search.json` shaped like the documented search answer.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from inboxtui.ingest import parse_record
from inboxtui.sources.base import ConfigError, ReplyRequest, SourceError
from inboxtui.sources.discourse import DiscourseAdapter
from inboxtui.sources.registry import adapter_class

POSTS = "/posts.json"
SEARCH = "/search.json"


class FakeDiscourse:
    """`/posts.json`: newest posts first, `before=ID` pages back, `page_size` per page."""

    def __init__(self, documented: list[dict[str, Any]], page_size: int = 5) -> None:
        self.posts = copy.deepcopy(documented)
        self.template = documented[0]
        self.page_size = page_size

    def add(self, post_id: int, topic_id: int, number: int, **fields: Any) -> dict[str, Any]:
        post = copy.deepcopy(self.template)
        post.update(
            id=post_id,
            topic_id=topic_id,
            post_number=number,
            cooked=f"<p>Post {post_id} about <strong>Acme</strong></p>",
            raw=f"Post {post_id} about **Acme**",
            username=f"member{post_id}",
            name=f"Member {post_id}",
            created_at=f"2026-11-20T10:{post_id % 60:02d}:00.000Z",
            topic_slug=f"topic-{topic_id}",
            topic_title=f"Topic {topic_id}",
            reply_to_post_number=None,
        )
        post.update(fields)
        self.posts.append(post)
        return post

    def __call__(self, request) -> dict[str, Any]:
        before = request.arg("before")
        chosen = [p for p in self.posts if before is None or p["id"] < int(before)]
        chosen.sort(key=lambda p: p["id"], reverse=True)
        return {"json": {"latest_posts": chosen[: self.page_size]}}


@pytest.fixture
def documented(api_fixture) -> list[dict[str, Any]]:
    return api_fixture("discourse/definitions/posts/posts.json")["latest_posts"]


@pytest.fixture
def forum(http_server, documented) -> FakeDiscourse:
    fake = FakeDiscourse(documented)
    http_server.add(POSTS, handler=fake)
    return fake


def make(http_server, client, secret: str | None = None, **options: str) -> DiscourseAdapter:
    return DiscourseAdapter(
        "acme-forum", {"url": http_server.url, **options}, client, secret=secret
    )


def ids(mentions: list[dict[str, Any]]) -> list[str]:
    return [m["external_id"] for m in mentions]


async def test_registry_and_options(source_client) -> None:
    assert adapter_class("discourse") is DiscourseAdapter and DiscourseAdapter.can_reply
    with pytest.raises(ConfigError, match="url="):
        DiscourseAdapter("forum", {}, source_client)


async def test_documented_latest_posts(http_server, source_client, documented) -> None:
    http_server.add(POSTS, json={"latest_posts": documented})
    result = await make(http_server, source_client).fetch(None)

    assert len(result.mentions) == 25
    assert [m["raw"]["id"] for m in result.mentions] == sorted(p["id"] for p in documented)
    newest = result.mentions[-1]
    assert newest["kind"] == "discourse" and newest["source"] == "acme-forum"
    assert newest["external_id"] == "8/17"
    assert newest["in_reply_to"] == "8/1"  # no reply_to_post_number: the topic's first post
    assert newest["created_at"] == "2018-05-24T21:16:02.287000Z"
    assert newest["text"] == "isbghvlcoekamtypuwfxdqjznr"
    assert newest["title"] == "Welcome to Discourse"
    assert newest["url"] == f"{http_server.url}/t/welcome-to-discourse/8/17"
    assert newest["author"] == {
        "handle": "ukilfqevjozbcgxrhnp",
        "name": "ukilfqevjozbcgxrhnp",
        "followers": None,
    }
    assert newest["engagement"] == {"replies": 0}
    assert newest["raw"] == documented[0]
    opening = next(m for m in result.mentions if m["external_id"] == "8/1")
    assert opening["in_reply_to"] is None
    assert "\n\n" in opening["text"]  # paragraphs survive the HTML
    assert result.cursor == {"last_id": 29}
    json.dumps(result.cursor)
    assert all(parse_record(m).external_id for m in result.mentions)  # the ingest path agrees


async def test_incremental_polls_page_back_to_the_last_seen_id(
    http_server, source_client, forum
) -> None:
    source = make(http_server, source_client)
    first = await source.fetch(None)  # the newest page only
    for post_id in range(30, 42):  # 12 new posts, page size 5
        forum.add(post_id, 8, post_id - 12)
    second = await source.fetch(first.cursor)
    third = await source.fetch(second.cursor)

    assert [m["raw"]["id"] for m in first.mentions] == [23, 24, 25, 26, 27, 28, 29][-5:]
    assert [m["raw"]["id"] for m in second.mentions] == list(range(30, 42))
    assert third.mentions == []
    befores = [r.arg("before") for r in http_server.requests_to(POSTS)]
    assert befores[1:] == [None, "37", "32", None]  # stops at the page holding id 29


async def test_threading_from_reply_to_post_number(http_server, source_client, forum) -> None:
    source = make(http_server, source_client)
    cursor = (await source.fetch(None)).cursor
    forum.add(30, 40, 1)
    forum.add(31, 40, 2, reply_to_post_number=1)
    forum.add(32, 40, 3, reply_to_post_number="2")  # the OpenAPI types it as a string
    result = await source.fetch(cursor)
    assert [(m["external_id"], m["in_reply_to"]) for m in result.mentions] == [
        ("40/1", None),
        ("40/2", "40/1"),
        ("40/3", "40/2"),
    ]


async def test_whispers_small_actions_and_deleted_posts_are_skipped(
    http_server, source_client, forum
) -> None:
    source = make(http_server, source_client)
    cursor = (await source.fetch(None)).cursor
    forum.add(30, 8, 18, post_type=3)  # "closed this topic"
    forum.add(31, 8, 19, post_type=4)  # staff whisper
    forum.add(32, 8, 20, deleted_at="2026-11-20T10:00:00.000Z")
    forum.add(33, 8, 21)
    result = await source.fetch(cursor)
    assert ids(result.mentions) == ["8/21"]
    assert result.cursor["last_id"] == 33


async def test_page_budget_leaves_a_gap_that_later_polls_fill(
    http_server, source_client, forum
) -> None:
    source = make(http_server, source_client)
    cursor = (await source.fetch(None)).cursor
    source.max_pages = 2
    for post_id in range(30, 53):  # 23 new, 5 per page
        forum.add(post_id, 8, post_id - 12)
    seen: list[int] = []
    for _ in range(6):
        result = await source.fetch(cursor)
        seen += [m["raw"]["id"] for m in result.mentions]
        cursor = result.cursor
        if "gap" not in cursor:
            break
    assert "gap" not in cursor
    assert sorted(seen) == list(range(30, 53)) and len(seen) == len(set(seen))
    forum.add(53, 8, 41)
    assert ids((await source.fetch(cursor)).mentions) == ["8/41"]


async def test_hostile_cooked_html(http_server, source_client, forum) -> None:
    source = make(http_server, source_client)
    cursor = (await source.fetch(None)).cursor
    forum.add(
        30,
        8,
        18,
        cooked=(
            '<aside class="quote"><blockquote><p>quoted</p></blockquote></aside>'
            "<p>Hello <a class='mention' href='/u/bob'>@bob</a> &amp; "
            "<img src='/e.png' class='emoji' alt=':tada:'></p><script>steal()</script>"
            "<p>[b]not markup[/b] \x1b[31m</p><div><p>unclosed"
        ),
    )
    (mention,) = (await source.fetch(cursor)).mentions
    assert (
        mention["text"] == "quoted\n\nHello @bob & :tada:\n\n[b]not markup[/b] \x1b[31m\n\nunclosed"
    )


async def test_api_key_headers_when_a_secret_is_set(http_server, source_client, forum) -> None:
    await make(http_server, source_client, secret="k3y", api_username="acme_bot").fetch(None)
    sent = http_server.requests_to(POSTS)[0]
    assert sent.headers["api-key"] == "k3y" and sent.headers["api-username"] == "acme_bot"
    await make(http_server, source_client).fetch(None)
    assert "api-key" not in http_server.requests_to(POSTS)[1].headers


async def test_search_mode(http_server, source_client, api_fixture) -> None:
    answer = api_fixture("discourse/responses/search/query_response.json")
    http_server.add(SEARCH, json=answer)
    newer = copy.deepcopy(answer)
    newer["posts"].insert(0, {**answer["posts"][0], "id": 40, "post_number": 2, "blurb": "Acme!"})
    newer["grouped_search_result"]["post_ids"] = [40, 16]
    http_server.add(SEARCH, json=newer)
    source = make(http_server, source_client, search="acme")

    first = await source.fetch(None)
    second = await source.fetch(first.cursor)

    (found,) = first.mentions
    assert found["external_id"] == "13/1" and found["in_reply_to"] is None
    assert found["title"] == "2a6aa74e-e341-5e3c-1eaa-78c6331f305f"  # from the topics list
    assert found["url"].endswith("/t/2a6aa74e-e341-5e3c-1eaa-78c6331f305f/13/1")
    assert found["engagement"] == {"likes": 0}
    assert "raw" in found and "topic_title" not in found["raw"]  # raw stays the API's own
    assert ids(second.mentions) == ["13/2"] and second.mentions[0]["in_reply_to"] == "13/1"
    assert second.mentions[0]["text"].startswith("ecf65fcd")  # cooked is the full post
    sent = http_server.requests_to(SEARCH)
    assert sent[0].arg("q") == "acme order:latest" and sent[0].arg("page") == "1"


async def test_search_follows_pages_until_it_meets_known_posts(http_server, source_client):
    def page(post_ids: list[int], more: bool) -> dict[str, Any]:
        posts = [
            {
                "id": i,
                "username": "u",
                "created_at": "2026-11-20T10:00:00.000Z",
                "blurb": f"post {i}",
                "post_number": 1,
                "topic_id": i,
                "like_count": 1,
            }
            for i in post_ids
        ]
        return {
            "posts": posts,
            "topics": [],
            "users": [],
            "categories": [],
            "grouped_search_result": {"more_full_page_results": more or None, "post_ids": post_ids},
        }

    http_server.add(
        SEARCH,
        handler=lambda r: {
            "json": page(
                {"1": [9, 8], "2": [7, 6], "3": [5, 4]}[r.arg("page")], r.arg("page") != "3"
            )
        },
    )
    result = await make(http_server, source_client, search="acme").fetch({"last_id": 6})
    assert [m["raw"]["id"] for m in result.mentions] == [7, 8, 9]
    assert [r.arg("page") for r in http_server.requests_to(SEARCH)] == ["1", "2"]
    assert result.mentions[0]["text"] == "post 7"  # no cooked in search: the blurb
    assert result.cursor == {"last_id": 9}


async def test_unexpected_shapes_are_source_errors(http_server, source_client) -> None:
    http_server.add(POSTS, json={"errors": ["not allowed"]})
    with pytest.raises(SourceError, match="latest_posts"):
        await make(http_server, source_client).fetch(None)
    http_server.add(SEARCH, json=[1, 2])
    with pytest.raises(SourceError, match="search"):
        await make(http_server, source_client, search="x").fetch(None)


async def test_body_faults(http_server, source_client, body_fault) -> None:
    http_server.add(POSTS, **body_fault.reply)
    with pytest.raises(SourceError):
        await make(http_server, source_client).fetch({"last_id": 20})


async def test_transport_faults_then_recovery(
    http_server, impatient_client, documented, transport_fault
) -> None:
    http_server.add(POSTS, **transport_fault.reply)
    http_server.add(POSTS, handler=FakeDiscourse(documented))
    source = make(http_server, impatient_client)
    cursor = {"last_id": 24}

    with pytest.raises(SourceError) as info:
        await source.fetch(cursor)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "acme-forum" in str(error)

    recovered = await source.fetch(cursor)
    assert [m["raw"]["id"] for m in recovered.mentions] == [25, 26, 27, 28, 29]


async def test_fault_on_a_later_page_loses_nothing(http_server, source_client, documented):
    fake = FakeDiscourse(documented)
    http_server.add(POSTS, handler=fake)
    http_server.add(POSTS, status=502)
    http_server.add(POSTS, handler=fake)
    source = make(http_server, source_client)
    with pytest.raises(SourceError):
        await source.fetch({"last_id": 15})
    result = await source.fetch({"last_id": 15})
    assert [m["raw"]["id"] for m in result.mentions] == [16, 19, 22, 23, 24, 25, 26, 27, 28, 29]


async def test_send_reply(http_server, source_client, api_fixture) -> None:
    created = api_fixture("discourse/responses/topics/new_topic_response.json")
    http_server.add(POSTS, method="POST", json=created)
    source = make(http_server, source_client, secret="k3y", api_username="acme_bot")

    result = await source.send_reply(ReplyRequest("17/3", None, "Thanks!", "idem-1"))
    assert result.remote_id == "17/1"
    assert result.remote_url == f"{http_server.url}/t/b793cb62-e23e-c2da-7e55-9f332f3963d0/17/1"
    (sent,) = http_server.requests_to(POSTS, "POST")
    assert sent.json() == {"raw": "Thanks!", "topic_id": 17, "reply_to_post_number": 3}
    assert sent.headers["api-key"] == "k3y"

    await source.send_reply(ReplyRequest("17/1", None, "To the topic", "idem-2"))
    assert http_server.requests_to(POSTS, "POST")[1].json() == {
        "raw": "To the topic",
        "topic_id": 17,
    }


async def test_send_reply_needs_a_key_and_a_post(http_server, source_client) -> None:
    with pytest.raises(ConfigError, match="API key"):
        await make(http_server, source_client).send_reply(ReplyRequest("1/1", None, "x", "k"))
    with pytest.raises(SourceError, match="topic/post"):
        await make(http_server, source_client, secret="k").send_reply(
            ReplyRequest("abc", None, "x", "k")
        )
