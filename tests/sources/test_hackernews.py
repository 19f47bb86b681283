"""Hacker News adapter against a local server that answers like Algolia's HN Search API.

The fake keeps a list of items and answers `search_by_date` the way Algolia
documents it: newest first, `numericFilters` on `created_at_i`, `tags`,
`page`/`hitsPerPage`/`nbPages`/`nbHits`, and a cap on reachable hits
(Algolia's `paginationLimitedTo`, 1000 there, small here).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import httpx
import pytest

from inboxtui.ingest import parse_record
from inboxtui.sources.base import ConfigError, SourceError
from inboxtui.sources.hackernews import HackerNewsAdapter
from inboxtui.sources.registry import adapter_class

PATH = "/api/v1/search_by_date"
T0 = 1_795_000_000  # 2026-11-18


def story(n: int, t: int, *, text: str | None = None) -> dict[str, Any]:
    return {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t)),
        "title": f"Show HN: Acme thing {n}",
        "url": f"https://acme.example/{n}" if text is None else None,
        "author": f"founder{n}",
        "points": 10 + n,
        "story_text": text,
        "comment_text": None,
        "num_comments": n,
        "story_id": None,
        "story_title": None,
        "story_url": None,
        "parent_id": None,
        "created_at_i": t,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
        "_tags": ["story", f"author_founder{n}", f"story_{n}", "show_hn"],
        "objectID": str(n),
        "_highlightResult": {"title": {"value": "Show HN: <em>Acme</em>", "matchLevel": "full"}},
    }


def comment(n: int, t: int, *, parent: int, story_id: int = 1, text: str | None = None):
    return {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t)),
        "title": None,
        "url": None,
        "author": f"commenter{n}",
        "points": None,
        "story_text": None,
        "comment_text": text or f"I tried <i>Acme</i> {n}.<p>It&#x27;s fine.",
        "num_comments": None,
        "story_id": story_id,
        "story_title": f"Show HN: Acme thing {story_id}",
        "story_url": f"https://acme.example/{story_id}",
        "parent_id": parent,
        "created_at_i": t,
        "_tags": ["comment", f"author_commenter{n}", f"story_{story_id}"],
        "objectID": str(n),
    }


class FakeAlgolia:
    """A stateful `search_by_date`: add items, it answers queries like Algolia."""

    def __init__(self, limit: int = 1000) -> None:
        self.items: list[dict[str, Any]] = []
        self.limit = limit

    def __call__(self, request) -> dict[str, Any]:
        lower, upper = -math.inf, math.inf
        for op, value in re.findall(
            r"created_at_i(>=|<=)(\d+)", request.arg("numericFilters") or ""
        ):
            if op == ">=":
                lower = max(lower, int(value))
            else:
                upper = min(upper, int(value))
        tags = (request.arg("tags") or "").strip("()").split(",")
        matches = [
            item
            for item in self.items
            if lower <= item["created_at_i"] <= upper and set(tags) & set(item["_tags"])
        ]
        matches.sort(
            key=lambda item: (item["created_at_i"], item.get("objectID", "")), reverse=True
        )
        per_page = int(request.arg("hitsPerPage") or 20)
        page = int(request.arg("page") or 0)
        reachable = matches[: self.limit]
        return {
            "json": {
                "hits": reachable[page * per_page : (page + 1) * per_page],
                "nbHits": len(matches),
                "page": page,
                "nbPages": math.ceil(len(reachable) / per_page),
                "hitsPerPage": per_page,
                "exhaustiveNbHits": True,
                "exhaustiveTypo": True,
                "query": request.arg("query"),
                "params": "advancedSyntax=true&analytics=true",
                "processingTimeMS": 1,
            }
        }


@pytest.fixture
def algolia(http_server) -> FakeAlgolia:
    fake = FakeAlgolia()
    http_server.add(PATH, handler=fake)
    return fake


def make(http_server, client: httpx.AsyncClient, per_page: int = 3, **options: str):
    source = HackerNewsAdapter(
        "hn-acme",
        # user look-ups stay on the local server too (unscripted users answer 404)
        {"url": http_server.url + "/api/v1", "user_url": http_server.url + "/v0", "query": "acme"}
        | options,
        client,
    )
    source.hits_per_page = per_page
    return source


def ids(mentions: list[dict[str, Any]]) -> list[str]:
    return [m["external_id"] for m in mentions]


async def test_registry_and_options(source_client) -> None:
    assert adapter_class("hackernews") is HackerNewsAdapter
    assert HackerNewsAdapter.default_url == "https://hn.algolia.com/api/v1"
    with pytest.raises(ConfigError, match="query="):
        HackerNewsAdapter("hn", {}, source_client)
    with pytest.raises(ConfigError, match="overlap="):
        HackerNewsAdapter("hn", {"query": "x", "overlap": "ten"}, source_client)


async def test_first_poll_takes_the_newest_page_oldest_first(http_server, source_client, algolia):
    algolia.items = [
        story(1, T0, text="<p>We built <b>Acme</b>.</p><p>Try it &amp; tell us.</p>"),
        comment(2, T0 + 10, parent=1),
        comment(3, T0 + 20, parent=2),
        story(4, T0 + 30),
        comment(5, T0 + 40, parent=4, story_id=4),
    ]
    result = await make(http_server, source_client).fetch(None)

    assert ids(result.mentions) == ["3", "4", "5"]  # the newest page (3), oldest first
    reply, link_story, _ = result.mentions
    assert reply["kind"] == "hackernews" and reply["source"] == "hn-acme"
    assert reply["text"] == "I tried Acme 3.\n\nIt's fine."
    assert reply["in_reply_to"] == "2"
    assert reply["title"] == "Show HN: Acme thing 1"
    assert reply["url"] == "https://news.ycombinator.com/item?id=3"
    assert reply["author"] == {"handle": "commenter3", "name": None, "followers": None}
    assert reply["created_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 20))
    assert "engagement" not in reply
    assert link_story["in_reply_to"] is None
    assert link_story["text"] == "Show HN: Acme thing 4\nhttps://acme.example/4"
    assert link_story["engagement"] == {"points": 14, "replies": 4}
    assert link_story["raw"]["objectID"] == "4"
    sent = http_server.requests_to(PATH)[0]
    assert sent.arg("query") == "acme" and sent.arg("tags") == "(story,comment)"
    assert sent.arg("numericFilters") is None
    assert result.cursor["last"] == T0 + 40
    assert all(parse_record(m).external_id for m in result.mentions)  # the ingest path agrees


async def test_story_text_is_plain_text(http_server, source_client, algolia) -> None:
    algolia.items = [story(1, T0, text="<p>We built <b>Acme</b>.</p><p>Try it &amp; tell us.</p>")]
    (mention,) = (await make(http_server, source_client).fetch(None)).mentions
    assert mention["text"] == "We built Acme.\n\nTry it & tell us."


async def test_incremental_polls_page_until_nb_pages_without_duplicates(
    http_server, source_client, algolia
) -> None:
    algolia.items = [story(1, T0), comment(2, T0 + 5, parent=1)]
    source = make(http_server, source_client)
    first = await source.fetch(None)
    algolia.items += [comment(n, T0 + 5 + n, parent=1) for n in range(3, 11)]  # 8 new

    second = await source.fetch(first.cursor)
    third = await source.fetch(second.cursor)

    assert ids(first.mentions) == ["1", "2"]
    assert ids(second.mentions) == [str(n) for n in range(3, 11)]
    assert third.mentions == []
    filters = [r.arg("numericFilters") for r in http_server.requests_to(PATH)]
    assert filters[1] == f"created_at_i>={T0 + 5 - 600}"  # watermark minus overlap
    pages = [r.arg("page") for r in http_server.requests_to(PATH)]
    assert pages[1:5] == ["0", "1", "2", "3"]  # 10 hits in the window, 3 per page


async def test_late_indexed_item_inside_the_overlap_is_caught(http_server, source_client, algolia):
    algolia.items = [story(1, T0), comment(2, T0 + 100, parent=1)]
    source = make(http_server, source_client)
    first = await source.fetch(None)
    # created before the newest item we saw, but indexed only now
    algolia.items.append(comment(3, T0 + 50, parent=1))
    second = await source.fetch(first.cursor)
    assert ids(second.mentions) == ["3"]


async def test_algolia_hit_limit_narrows_the_window(http_server, source_client, algolia) -> None:
    algolia.limit = 6
    algolia.items = [story(1, T0)]
    source = make(http_server, source_client)
    first = await source.fetch(None)
    algolia.items += [comment(n, T0 + n * 10, parent=1) for n in range(2, 16)]  # 14 new

    second = await source.fetch(first.cursor)

    assert ids(second.mentions) == [str(n) for n in range(2, 16)]
    filters = {r.arg("numericFilters") for r in http_server.requests_to(PATH)}
    assert any("created_at_i<=" in f for f in filters if f)


async def test_request_budget_leaves_a_gap_that_later_polls_fill(
    http_server, source_client, algolia
) -> None:
    algolia.items = [story(1, T0)]
    # a small overlap: each poll re-reads only what is newer than the watermark
    source = make(http_server, source_client, per_page=2, overlap="1")
    source.max_requests = 2
    cursor = (await source.fetch(None)).cursor
    algolia.items += [comment(n, T0 + n, parent=1) for n in range(2, 12)]  # 10 new, 5 pages

    seen: list[str] = []
    for _ in range(6):
        result = await source.fetch(cursor)
        seen += ids(result.mentions)
        cursor = result.cursor
        if "gap" not in cursor:
            break
    assert "gap" not in cursor
    assert sorted(seen, key=int) == [str(n) for n in range(2, 12)]  # every one, once


async def test_small_budget_with_wide_overlap_never_duplicates(http_server, source_client, algolia):
    # the overlap re-reads more than one poll can: slow, but nothing is lost or doubled
    algolia.items = [story(1, T0)]
    source = make(http_server, source_client, per_page=2)
    source.max_requests = 2
    cursor = (await source.fetch(None)).cursor
    algolia.items += [comment(n, T0 + n, parent=1) for n in range(2, 12)]
    seen: list[str] = []
    for _ in range(12):
        result = await source.fetch(cursor)
        seen += ids(result.mentions)
        cursor = result.cursor
    assert sorted(seen, key=int) == [str(n) for n in range(2, 12)]


async def test_nothing_matched_yet_listens_from_now(http_server, source_client, algolia) -> None:
    source = make(http_server, source_client)
    before = int(time.time())
    first = await source.fetch(None)
    assert first.mentions == [] and first.cursor["last"] >= before
    await source.fetch(first.cursor)
    assert http_server.requests_to(PATH)[1].arg("numericFilters").startswith("created_at_i>=")


async def test_unexpected_json_shape_is_a_source_error(http_server, source_client) -> None:
    http_server.add(PATH, json={"message": "index unavailable", "status": 200})
    with pytest.raises(SourceError, match="hn-acme"):
        await make(http_server, source_client).fetch(None)


async def test_body_faults(http_server, source_client, body_fault) -> None:
    http_server.add(PATH, **body_fault.reply)
    with pytest.raises(SourceError):
        await make(http_server, source_client).fetch(None)


async def test_transport_faults_then_recovery(http_server, impatient_client, transport_fault):
    fake = FakeAlgolia()
    fake.items = [story(1, T0), comment(2, T0 + 1, parent=1)]
    http_server.add(PATH, **transport_fault.reply)
    http_server.add(PATH, handler=fake)
    source = make(http_server, impatient_client)
    cursor = {"last": T0, "recent": {"1": T0}}

    with pytest.raises(SourceError) as info:
        await source.fetch(cursor)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "hn-acme" in str(error)

    recovered = await source.fetch(cursor)
    assert ids(recovered.mentions) == ["2"]


async def test_hostile_comment_text_never_crashes(http_server, source_client, algolia) -> None:
    algolia.items = [
        comment(2, T0, parent=1, text="<script>x()</script>\x1b[2J<p>ok</p><<<a href='"),
        {"objectID": "9", "created_at_i": T0 + 1, "_tags": ["comment"]},  # sparse hit
        {"created_at_i": T0 + 2, "_tags": ["comment"]},  # no objectID: skipped
    ]
    result = await make(http_server, source_client).fetch(None)
    assert ids(result.mentions) == ["2", "9"]
    assert "x()" not in result.mentions[0]["text"] and "ok" in result.mentions[0]["text"]
    assert result.mentions[1]["author"]["handle"] == "[unknown]"
